"""persistkit lab: the power-cut builder on synthetic timelines, the strace parser, loss
runs whose expected loss is known exactly (engine and real Redis), report.json schema,
the PNGs and --json output."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from persistkit.lab import report as rep
from persistkit.lab import servers
from persistkit.lab.experiments import AckLog, LossPlan, loss_run, recover, summarize, write_batches
from persistkit.lab.timeline import (CREATE, FSYNC, MKDIR, RENAME, SYNC, UNLINK, WRITE, FsEvent,
                                     build_post_cut, parse_strace, resolve_unfinished)
from persistkit.lab.workload import Workload, parse_write_key, write_key

IN_CI = os.environ.get("CI", "").lower() == "true"


# ---------------------------------------------------------------------------------------
# the power-cut builder on synthetic timelines

def ev(start, kind, path="", end=None, **kw):
    return FsEvent(start, start + 0.001 if end is None else end, 1, kind, path=path, **kw)


def write_final(root: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_append_file_keeps_what_the_last_completed_fsync_covered(tmp_path):
    src, root = tmp_path / "src", str(tmp_path / "src")
    write_final(src, {"log": b"A" * 100 + b"B" * 50 + b"C" * 30})
    events = [ev(1.0, CREATE, f"{root}/log"), ev(1.1, FSYNC, root),          # the name is durable
              ev(2.0, WRITE, f"{root}/log", size=100), ev(3.0, FSYNC, f"{root}/log", end=3.5),
              ev(3.2, WRITE, f"{root}/log", size=50),                           # during the fsync: not covered
              ev(4.0, FSYNC, f"{root}/log", end=6.0),                           # still running at the cut
              ev(5.0, WRITE, f"{root}/log", size=30)]
    pc = build_post_cut(events, 5.5, root, str(tmp_path / "cut"))
    assert pc.files == {"log": 100}
    assert pc.dropped_bytes == {"log": 80}
    assert (tmp_path / "cut" / "log").read_bytes() == b"A" * 100
    # a cut after the second fsync returned keeps the 50 bytes written before it started
    pc = build_post_cut(events, 6.5, root, str(tmp_path / "cut2"))
    assert (tmp_path / "cut2" / "log").read_bytes() == b"A" * 100 + b"B" * 50
    assert pc.synced_at["log"] == 4.0


def test_new_file_without_a_folder_fsync_is_gone_in_the_strict_model_only(tmp_path):
    src, root = tmp_path / "src", str(tmp_path / "src")
    write_final(src, {"f": b"xyz"})
    events = [ev(1.0, CREATE, f"{root}/f"), ev(1.1, WRITE, f"{root}/f", size=3), ev(1.2, FSYNC, f"{root}/f")]
    strict = build_post_cut(events, 2.0, root, str(tmp_path / "a"))
    assert strict.files == {} and strict.vanished == ["f"]
    journaled = build_post_cut(events, 2.0, root, str(tmp_path / "b"), metadata="journaled")
    assert journaled.files == {"f": 3}
    # a later fsync of the folder makes the name durable in the strict model too
    events.append(ev(1.5, FSYNC, root))
    assert build_post_cut(events, 2.0, root, str(tmp_path / "c")).files == {"f": 3}


def test_rename_over_a_file_counts_only_once_the_folder_is_synced(tmp_path):
    """The rewrite pattern: temp written, fsynced, renamed over the old base, folder fsynced."""
    src, root = tmp_path / "src", str(tmp_path / "src")
    write_final(src, {"d/base": b"new-base"})
    events = [ev(1.0, MKDIR, f"{root}/d"), ev(1.1, CREATE, f"{root}/d/base"),
              ev(1.2, WRITE, f"{root}/d/base", size=8), ev(1.3, FSYNC, f"{root}/d/base"),
              ev(1.4, FSYNC, f"{root}/d"), ev(1.5, FSYNC, root),
              ev(2.0, CREATE, f"{root}/d/temp"), ev(2.1, WRITE, f"{root}/d/temp", size=8),
              ev(2.2, FSYNC, f"{root}/d/temp"), ev(3.0, RENAME, f"{root}/d/temp", dest=f"{root}/d/base"),
              ev(4.0, FSYNC, f"{root}/d")]
    # before the rename: the old base, still readable at that name in the final files? No:
    # the final file at d/base is the new inode, so the old one's content is unknown
    before = build_post_cut(events, 2.5, root, str(tmp_path / "a"))
    assert before.missing_content == ["d/base"]
    # renamed but the folder not yet synced: the durable name still points at the old inode
    between = build_post_cut(events, 3.5, root, str(tmp_path / "b"))
    assert between.missing_content == ["d/base"] and "d/temp" not in between.files
    after = build_post_cut(events, 4.5, root, str(tmp_path / "c"))
    assert after.files == {"d/base": 8} and after.missing_content == []
    assert (tmp_path / "c" / "d" / "base").read_bytes() == b"new-base"


def test_a_rename_racing_the_kill_is_read_from_the_files_and_the_replaced_snapshot_from_the_links(tmp_path):
    """A snapshot child renames its temp file over dump.rdb as the kill lands: strace prints
    "= ?". The files say the rename happened (a kill -9 finds the new snapshot), but without
    a folder fsync after it a power cut keeps the old dump.rdb, whose inode no name leads
    to any more: its bytes come from the links taken just before the kill."""
    root = str(tmp_path / "src")
    lines = [
        f'10 1.000000 openat(AT_FDCWD<{root}>, "dump.rdb", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 5<{root}/dump.rdb> <0.000100>',
        f'10 1.100000 write(5<{root}/dump.rdb>, ""..., 3) = 3 <0.000010>',
        f'10 1.200000 fsync(5<{root}/dump.rdb>) = 0 <0.000100>',
        f'10 1.300000 fsync(3<{root}>) = 0 <0.000100>',
        f'11 2.000000 openat(AT_FDCWD<{root}>, "temp-11.rdb", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 6<{root}/temp-11.rdb> <0.000100>',
        f'11 2.100000 write(6<{root}/temp-11.rdb>, ""..., 5) = 5 <0.000010>',
        f'11 2.200000 fsync(6<{root}/temp-11.rdb>) = 0 <0.000100>',
        f'10 2.250000 write(7<{root}/dump.rdb>, ""..., 9) = ?',
        f'11 2.300000 rename("temp-11.rdb", "dump.rdb") = ?',
    ]
    events = parse_strace(lines, root, cwd=root)
    assert [(e.kind, e.unfinished) for e in events if e.start >= 2.0] == [
        ("create", False), ("write", False), ("fsync", False), ("rename", True)]   # the "?" write is dropped
    # the files as the kill left them: the new snapshot under dump.rdb, the temp name gone
    write_final(tmp_path / "src", {"dump.rdb": b"NEWSS"})
    happened = resolve_unfinished(list(events))
    assert happened[-1].kind == RENAME and happened[-1].end == happened[-1].start == 2.3
    # had the temp file still been there, the rename did not happen
    assert [e.kind for e in resolve_unfinished(list(events), lambda p: True)][-1] == FSYNC
    # links taken at 2.25 keep the old snapshot's inode
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "dump.rdb").write_bytes(b"OLD")
    (tmp_path / "kept" / "temp-11.rdb").write_bytes(b"NEWSS")
    pc = build_post_cut(happened, 2.4, root, str(tmp_path / "cut"), kept=(2.25, str(tmp_path / "kept")))
    assert pc.files == {"dump.rdb": 3} and pc.missing_content == []
    assert (tmp_path / "cut" / "dump.rdb").read_bytes() == b"OLD"
    assert build_post_cut(happened, 2.4, root, str(tmp_path / "cut2")).missing_content == ["dump.rdb"]
    # a folder fsync after the rename would have made the new snapshot the durable one
    synced = happened + [ev(2.35, FSYNC, root)]
    assert build_post_cut(synced, 2.4, root, str(tmp_path / "cut3")).files == {"dump.rdb": 5}


def test_sync_event_and_initial_files_are_durable_and_unlink_needs_the_folder(tmp_path):
    src, root = tmp_path / "src", str(tmp_path / "src")
    write_final(src, {"old": b"1234", "x": b"abcdef"})
    events = [ev(1.0, CREATE, f"{root}/x"), ev(1.1, WRITE, f"{root}/x", size=6),
              ev(2.0, SYNC), ev(3.0, UNLINK, f"{root}/old")]
    pc = build_post_cut(events, 3.5, root, str(tmp_path / "cut"), initial={"old": 4})
    # the unlink is not durable (no folder fsync after it), so "old" is still there,
    # but its inode is gone from the final files: content unknown, reported
    assert pc.files == {"x": 6} and pc.missing_content == ["old"]


def test_parse_strace_joins_split_calls_resolves_names_and_drops_failures(tmp_path):
    root = "/data/run"
    lines = [
        '10 100.000000 chdir("/data/run") = 0 <0.000010>',
        '10 100.100000 openat(AT_FDCWD</data/run>, "temp-11.rdb", O_WRONLY|O_CREAT|O_TRUNC, 0666) = 7</data/run/temp-11.rdb> <0.000100>',
        '10 100.200000 write(7</data/run/temp-11.rdb>, ""..., 4096) = 4096 <0.000020>',
        '12 100.300000 fdatasync(7</data/run/temp-11.rdb> <unfinished ...>',
        '10 100.350000 write(1<pipe:[5]>, ""..., 20) = 20 <0.000010>',
        '12 100.500000 <... fdatasync resumed>) = 0 <0.200000>',
        '10 100.600000 rename("temp-11.rdb", "dump.rdb") = 0 <0.000050>',
        '10 100.700000 unlink("nothing") = -1 ENOENT (No such file or directory) <0.000010>',
        '10 100.800000 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x1) = 13 <0.001000>',
        '10 100.900000 clone3({flags=CLONE_VM|CLONE_THREAD, exit_signal=0}, 88) = 14 <0.000100>',
        '10 101.000000 mkdir("appendonlydir", 0755) = 0 <0.000100>',
        '10 101.100000 openat(AT_FDCWD</data/run>, "/etc/hosts", O_RDONLY) = 3</etc/hosts> <0.000010>',
    ]
    events = parse_strace(lines, root)
    kinds = [(e.kind, e.path, e.dest) for e in events]
    assert kinds == [("create", "/data/run/temp-11.rdb", ""), ("write", "/data/run/temp-11.rdb", ""),
                     ("fsync", "/data/run/temp-11.rdb", ""), ("rename", "/data/run/temp-11.rdb", "/data/run/dump.rdb"),
                     ("fork", "", ""), ("mkdir", "/data/run/appendonlydir", "")]
    fsync = events[2]
    assert fsync.start == pytest.approx(100.3) and fsync.end == pytest.approx(100.5)
    assert events[1].size == 4096 and events[4].child == 13


# ---------------------------------------------------------------------------------------
# small helpers

def test_workload_is_seeded_and_independent_of_batching():
    wl = Workload(seed=3)
    assert wl.write_commands(10, 5) == wl.write_commands(0, 20)[10:15]
    assert wl.write_commands(0, 3) != Workload(seed=4).write_commands(0, 3)
    assert parse_write_key(write_key(123)) == 123 and parse_write_key(b"k:1") is None
    load = wl.load_commands(0, 3, 100)
    assert all(c.endswith(b"\r\n") and b"$100\r\n" in c for c in load)
    assert wl.load_commands(0, 3, 100, generation=1) != load


def test_ack_log_and_percentiles():
    log = AckLog()
    log.record(16, 10.0)
    log.record(32, 11.0)
    assert log.acked == 32 and log.ack_time(0) == 10.0 and log.ack_time(16) == 11.0
    assert log.acked_after(10.5) == 16 and log.acked_after(9.0) == 32
    s = summarize([float(x) for x in range(1, 101)])
    assert (s["p50_ms"], s["p99_ms"], s["max_ms"], s["samples"]) == (50.0, 99.0, 100.0, 100)


# ---------------------------------------------------------------------------------------
# loss runs with a known answer

def _need_strace():
    if not servers.strace_usable():
        if IN_CI:
            pytest.fail("strace must be usable under CI=true (the power-cut measurements need it)")
        pytest.skip("strace not usable here")


def test_engine_rdb_loses_exactly_the_writes_after_save(tmp_path):
    """No save points: SAVE after 120 acknowledged writes, 48 more, kill -9: exactly those 48 are lost."""
    settings = servers.mode_settings("none", 1)
    srv = servers.start_server(servers.ENGINE, tmp_path / "data", settings)
    wl, log = Workload(), AckLog()
    try:
        from persistkit.lab.client import RespClient

        with RespClient(srv.port) as c:
            seq = write_batches(c, wl, log, 0, 120, 16)
            assert c.call("SAVE") == b"OK"
            write_batches(c, wl, log, seq, 48, 16)
        srv.kill9()
    finally:
        srv.kill9()
    r = recover(servers.ENGINE, tmp_path / "data", settings, log.acked)
    assert r.started and log.acked == 168
    assert (r.recovered, r.lost, r.first_lost) == (120, 48, 120)


def test_engine_aof_always_loses_nothing_and_aof_no_loses_exactly_the_unsynced_half(tmp_path):
    _need_strace()
    plan = LossPlan(preload_writes=64, phase_writes=96, depth=16)
    always = loss_run(servers.ENGINE, "aof-always", plan, tmp_path / "always")
    assert always["acked_writes"] == 64 + 96
    assert always["lost_at_kill9"] == 0 and always["lost_at_power_cut"] == 0
    assert always["rewrite_s"] is not None and always["files_bytes"] > 0
    # appendfsync no: the rewrite (after the first 48 phase writes) fsyncs its base; the
    # 48 writes after it are only in the page cache: a kill keeps them, a power cut does not
    no = loss_run(servers.ENGINE, "aof-no", plan, tmp_path / "no")
    assert no["lost_at_kill9"] == 0
    assert no["lost_at_power_cut"] == 48
    assert no["power_cut"]["first_lost"] == 64 + 48
    assert any(name.endswith(".incr.aof") for name in no["power_cut"]["dropped_bytes"])


@pytest.mark.redis
def test_redis_agrees_on_the_exact_aof_no_loss(tmp_path):
    from realredis import redis_binary

    redis_binary()
    _need_strace()
    plan = LossPlan(preload_writes=64, phase_writes=96, depth=16)
    no = loss_run(servers.REDIS, "aof-no", plan, tmp_path / "no")
    assert (no["lost_at_kill9"], no["lost_at_power_cut"]) == (0, 48)
    always = loss_run(servers.REDIS, "aof-always", plan, tmp_path / "always")
    assert (always["lost_at_kill9"], always["lost_at_power_cut"]) == (0, 0)


# ---------------------------------------------------------------------------------------
# report, plots, html, CLI

def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_cli_smoke_run_writes_a_valid_report_plots_and_page(tmp_path):
    _need_strace()
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "persistkit", "lab", "--quick", "--scale", "0.03",
                           "--servers", "engine", "--modes", "aof-no", "-o", str(out), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)                      # --json: one document, nothing else
    assert rep.validate(report) == []
    assert json.loads((out / "report.json").read_text())["runs"] == report["runs"]
    assert [(r["server"], r["mode"]) for r in report["runs"]] == [("engine", "aof-no")]
    assert {r["during"] for r in report["latency"]} == {"none", "save", "bgsave"}
    assert [r["rewritten_fraction"] for r in report["cow"]] == [0.0, 0.1, 0.5, 1.0]
    assert all(r["cow_bytes"] > 0 for r in report["cow"])
    bases = {b["base"]: b for b in report["bases"]}
    assert set(bases) == {"rdb-preamble", "commands"}
    assert all(b["keys_loaded"] == b["keys"] > 0 for b in bases.values())
    assert bases["rdb-preamble"]["base_bytes"] < bases["commands"]["base_bytes"]
    save = next(r for r in report["latency"] if r["during"] == "save")
    none = next(r for r in report["latency"] if r["during"] == "none")
    assert save["max_ms"] > none["p50_ms"]               # SAVE blocked the writer
    no = report["runs"][0]
    assert no["lost_at_kill9"] == 0 and no["lost_at_power_cut"] is not None
    assert no["acked_writes"] > 0 and no["files_bytes"] > 0 and no["recovery_s"] > 0
    assert report["verdicts"] and all(isinstance(v, str) for v in report["verdicts"])
    import matplotlib.image
    from persistkit.lab import plots

    assert sorted(report["plots"]) == ["cow.png", "incremental.png", "latency.png", "loss.png", "recovery.png"]
    for name in report["plots"]:
        assert _png_size(out / name) == plots.SIZE
        pixels = matplotlib.image.imread(str(out / name))
        assert pixels.shape[:2] == (plots.SIZE[1], plots.SIZE[0])
        assert pixels.std() > 0.01                          # not a blank canvas
    page = (out / "index.html").read_text()
    for name in report["plots"]:
        assert f'src="{name}"' in page
    assert "Verdicts" in page and "Checks" in page


def test_validate_reports_missing_keys():
    assert rep.validate({"runs": [{"server": "engine"}], "cow": [], "latency": [{"server": "x", "during": "y"}],
                         "verdicts": "no"}) == [
        "runs[0]: missing mode, acked_writes, lost_at_kill9, lost_at_power_cut, recovery_s, files_bytes",
        "latency[0]: missing p50_ms, p99_ms, max_ms", "latency[0]: server 'x'", "latency[0]: during 'y'",
        "verdicts: not a list of strings"]


def test_checks_flag_a_broken_claim():
    runs = [{"server": "engine", "mode": "aof-always", "acked_writes": 10, "lost_at_kill9": 0, "lost_at_power_cut": 2},
            {"server": "redis", "mode": "aof-always", "acked_writes": 10, "lost_at_kill9": 0, "lost_at_power_cut": 0}]
    checks = {c["claim"].split(" ")[0]: c for c in rep.checks(runs, ["engine", "redis"])}
    assert checks["aof-always"]["holds"] is False
    assert checks["the"]["holds"] is False and "engine 2, redis 0" in checks["the"]["detail"]


def test_usage_errors_exit_2():
    proc = subprocess.run([sys.executable, "-m", "persistkit", "lab", "--modes", "fsync-sometimes"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown mode" in proc.stderr


def _descendants(pid: int) -> set[int]:
    out, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    for c in fh.read().split():
                        out.add(int(c))
                        todo.append(int(c))
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_ctrl_c_kills_every_server_and_removes_the_temp_folder(tmp_path):
    import signal
    import time

    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "persistkit", "lab", "--quick", "--servers", "engine",
                             "--modes", "aof-everysec", "--no-power-cut"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        # wait (with a deadline) until the lab runs a server in its own temp folder
        deadline = time.monotonic() + 120
        servers_seen: set[int] = set()
        while time.monotonic() < deadline:
            work = list(tmp_path.glob("persistkit-lab-*/engine/aof-everysec/data/appendonlydir"))
            servers_seen = _descendants(proc.pid)
            if work and servers_seen:
                break
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)   # polling a condition with a deadline, not a fixed wait
        assert servers_seen, "the lab never started a server"
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    assert not list(tmp_path.glob("persistkit-lab-*"))
    assert [p for p in servers_seen if _alive(p)] == []


def test_load_time_is_the_servers_total_not_its_first_part():
    srv = servers.Server("redis", Path("."), {}, proc=None)
    srv.log = ["* DB loaded from base file appendonly.aof.2.base.rdb: 0.008 seconds",
               "* DB loaded from incr file appendonly.aof.2.incr.aof: 0.072 seconds",
               "* DB loaded from append only file: 0.081 seconds"]
    assert srv.load_seconds() == 0.081
    srv.log = ["1:M 07 Dec 2026 22:28:20 * DB loaded from disk: 0.764 seconds (10 keys)"]
    assert srv.load_seconds() == 0.764
    srv.log = ["Ready to accept connections"]
    assert srv.load_seconds() is None


def test_snapshot_watch_waits_out_a_snapshot_of_the_preload():
    from persistkit.lab.experiments import _SnapshotWatch

    def p(running, lastsave, status="ok"):
        return {"rdb_bgsave_in_progress": "1" if running else "0", "rdb_last_save_time": str(lastsave),
                "rdb_last_bgsave_status": status}

    w = _SnapshotWatch(p(True, 100))            # forked during the preload
    assert not w.finished(p(False, 101))        # ... it ends: not the one we want
    assert not w.finished(p(True, 101))         # a new one starts
    assert w.finished(p(False, 103))            # and ends
    w = _SnapshotWatch(p(False, 100))
    assert not w.finished(p(False, 100))
    assert w.finished(p(False, 102))            # started and ended between two polls
    w = _SnapshotWatch(p(False, 100))
    assert not w.finished(p(True, 100))
    assert not w.finished(p(False, 100, "err"))  # a failed one does not count
    assert not w.finished(p(True, 100))
    assert w.finished(p(False, 105))


def test_name_changes_never_synced_are_found_and_temp_files_ignored():
    from persistkit.lab.timeline import unsynced_name_changes

    root = "/srv/d"
    events = [ev(1.0, MKDIR, f"{root}/aofdir"), ev(1.1, CREATE, f"{root}/aofdir/m"), ev(1.2, FSYNC, f"{root}/aofdir"),
              ev(2.0, CREATE, f"{root}/temp-1.aof"), ev(3.0, SYNC)]
    found = [(u["op"], u["path"]) for u in unsynced_name_changes(events, root)]
    assert found == [("mkdir", "aofdir"), ("name", "temp-1.aof")]   # the lab's SYNC does not count
    runs = [{"server": "redis", "mode": m, "unsynced_name_changes": [
        {"op": "mkdir", "path": "aofdir", "at": 1.0}, {"op": "name", "path": "temp-1.aof", "at": 2.0}]}
        for m in ("aof-always", "hybrid")]
    assert rep.durability_findings(runs) == [
        "redis created the folder aofdir and never fsynced the folder holding it (modes: aof-always, hybrid): "
        "a power cut before anything else syncs that folder could undo it"]
