"""INFO sections. The server adds its own (persistence, stats); the library knows the keyspace."""

from __future__ import annotations


def render_info(ks, sections: list[bytes]) -> str:
    wanted = {s.decode("utf-8", "replace") for s in sections} or {"default"}
    everything = bool(wanted & {"all", "everything", "default"})
    parts = []
    srv = ks.server
    providers = []
    if srv is not None:
        providers = srv.info_sections()
    else:
        providers = [("server", [("redis_version", "7.0.15"), ("persistkit_engine", "library")])]
    providers.append(("keyspace", _keyspace_fields(ks)))
    for name, fields in providers:
        if everything or name in wanted:
            lines = [f"# {name.capitalize()}"] + [f"{k}:{v}" for k, v in fields]
            parts.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(parts)


def _keyspace_fields(ks):
    out = []
    for db in ks.dbs:
        if db.data:
            out.append((f"db{db.id}", f"keys={len(db.data)},expires={len(db.expires)},avg_ttl=0"))
    return out
