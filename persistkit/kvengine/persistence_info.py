"""INFO persistence fields of a running EngineServer (names as Redis 7.0 prints them)."""

from __future__ import annotations

import time


def persistence_fields(srv) -> list[tuple[str, object]]:
    now = time.time()
    ch = srv.child
    rdb_child = ch is not None and ch.kind == "rdb"
    aof_child = ch is not None and ch.kind == "aof"
    aof = srv.aof
    out = [
        ("loading", 0),
        ("async_loading", 0),
        ("current_cow_peak", 0),
        ("current_cow_size", 0),
        ("current_fork_perc", "0.00"),
        ("current_save_keys_processed", 0),
        ("current_save_keys_total", 0),
        ("rdb_changes_since_last_save", srv.ks.dirty - srv.dirty_at_save),
        ("rdb_bgsave_in_progress", int(rdb_child)),
        ("rdb_last_save_time", srv.lastsave),
        ("rdb_last_bgsave_status", srv.last_bgsave_status),
        ("rdb_last_bgsave_time_sec", srv.last_bgsave_time_sec),
        ("rdb_current_bgsave_time_sec", int(now - ch.started) if rdb_child else -1),
        ("rdb_saves", srv.rdb_saves),
        ("rdb_last_cow_size", srv.last_cow_size),
        ("rdb_last_load_keys_expired", 0),
        ("rdb_last_load_keys_loaded", 0),
        ("aof_enabled", int(aof is not None)),
        ("aof_rewrite_in_progress", int(aof_child)),
        ("aof_rewrite_scheduled", int(srv.aof_rewrite_scheduled)),
        ("aof_last_rewrite_time_sec", srv.aof_last_rewrite_time_sec),
        ("aof_current_rewrite_time_sec", int(now - ch.started) if aof_child else -1),
        ("aof_last_bgrewrite_status", srv.aof_last_rewrite_status),
        ("aof_rewrites", srv.aof_rewrites),
        ("aof_rewrites_consecutive_failures", 0),
        ("aof_last_write_status", aof.last_write_status if aof is not None else "ok"),
        ("aof_last_cow_size", srv.last_aof_cow_size),
        ("module_fork_in_progress", 0),
        ("module_fork_last_cow_size", 0),
        ("latest_fork_usec", srv.latest_fork_usec),
    ]
    if aof is not None:
        out += [
            ("aof_current_size", aof.base_size + aof.incr_size),
            ("aof_base_size", aof.base_size),
            ("aof_pending_rewrite", int(srv.aof_rewrite_scheduled)),
            ("aof_buffer_length", len(aof.buf)),
            ("aof_pending_bio_fsync", aof.worker.pending if aof.worker else 0),
            ("aof_delayed_fsync", 0),
            ("aof_fsync_policy", aof.fsync_policy),
        ]
    return out
