#!/usr/bin/env python3
"""RDB 14 (Redis 8.8) read benchmark: persistkit verify / inspect / export against the
redis-check-rdb of the same Redis 8.8-era build that wrote the file, in one run, as ratios.

  PERSISTKIT_REDIS14_SERVER=/path/redis-server PERSISTKIT_REDIS14_KEYMETA=/path/test_keymeta.so \\
      python3 bench/run_newformats.py [--keys N] [--no-results]

The file (bench/data/newformats-v14.rdb, kept between runs) is written by that server's
own SAVE: arrays, streams with consumer groups, NACKed entries and IDMP state, strings
carrying key metadata of the test_keymeta module, and plain hashes. Arrays, stream v5
values and key metadata have no compiled reader: they go through the pure path whatever
the accelerator says, so the compiled and the pure rows differ only on the plain keys.
redis-check-rdb is the build's own (the binary beside redis-server).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402

PURE_ENV = dict(os.environ, PERSISTKIT_PUREPYTHON="1")
FAR = 4102444800000   # 2100-01-01: nothing expires under the benchmark


def generate(path: Path, server: str, module: str, keys: int) -> None:
    sys.path.insert(0, str(H.REPO / "tests" / "data" / "newformats"))
    import generate as gen  # the fixture generator's server runner

    tmp = Path(tempfile.mkdtemp(prefix="nf-bench-"))
    srv = gen.Server(server, module, tmp)
    try:
        r = srv.client(0)
        r.execute_command("DEBUG", "enable-keymeta-runtime-registration", "1")
        r.execute_command("KEYMETA.REGISTER", "KMT1", 1, "ALLOWIGNORE:RDBLOAD:RDBSAVE")
        p = r.pipeline(transaction=False)
        n_arr, n_str, n_hash, n_stream = keys // 5, keys // 2, keys // 5, max(1, keys // 100)
        for i in range(n_arr):
            p.execute_command("ARSET", f"arr:{i}", 0, *[(str(j) if j % 3 else f"value-{i}-{j}")
                                                       for j in range(40)])
            p.execute_command("ARSET", f"arr:{i}", 1 << 20, "far")
            if i % 1000 == 999:
                p.execute()
        for i in range(n_str):
            p.set(f"str:{i}", f"payload-{i}" * 3)
            p.execute_command("KEYMETA.SET", "KMT1", f"str:{i}", f"meta-{i}")
            if i % 1000 == 999:
                p.execute()
        for i in range(n_hash):
            p.hset(f"hash:{i}", mapping={f"f{j}": f"v{i}-{j}" for j in range(20)})
            if i % 1000 == 999:
                p.execute()
        p.execute()
        for i in range(n_stream):
            k = f"stream:{i}"
            r.xadd(k, {"n": "0"}, id=f"{FAR}-0")
            r.execute_command("XCFGSET", k, "IDMP-DURATION", 86400, "IDMP-MAXSIZE", 100)
            for j in range(30):
                r.execute_command("XADD", k, "IDMP", f"p{j % 3}", f"i{j}", "*", "n", str(j))
            r.xgroup_create(k, "g", id="0")
            r.xreadgroup("g", "c", {k: ">"}, count=20)
            r.execute_command("XNACK", k, "g", "SILENT", "IDS", 2, f"{FAR}-1", f"{FAR}-2")
        r.save()
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp / "dump.rdb", path)
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


READING = (
    "\n\nReading: every value here is one of the Redis 8.6/8.8 forms or a small plain key, so the "
    "per-element cost of the pure reader (820k array elements, 50k key-metadata values, 30k IDMP "
    "entries) sets the pace and the compiled path gains only on the plain strings and hashes. "
    "The run shared 2 cores "
    "with other work (see the load average): read every ratio as a rough bound."
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--no-results", action="store_true")
    args = ap.parse_args()
    server = os.environ.get("PERSISTKIT_REDIS14_SERVER")
    module = os.environ.get("PERSISTKIT_REDIS14_KEYMETA")
    if not (server and module):
        print("set PERSISTKIT_REDIS14_SERVER and PERSISTKIT_REDIS14_KEYMETA (see the docstring)")
        return 2
    check = str(Path(server).with_name("redis-check-rdb"))
    path = H.DATA / "newformats-v14.rdb"
    if not path.exists():
        print(f"generating {path} ({args.keys} keys) ...", flush=True)
        generate(path, server, module, args.keys)
    size = path.stat().st_size
    context = H.context_line()
    runs = []
    out = H.OUT / "newformats.export.jsonl"
    for label, cmd, kw in [
        ("persistkit verify", ["verify", str(path)], {}),
        ("persistkit verify (pure Python)", ["verify", str(path)], {"env": PURE_ENV}),
        ("persistkit inspect --json", ["inspect", "--json", str(path)], {}),
        ("persistkit export --format jsonl", ["export", str(path), "-o", str(out)], {"out_path": out}),
        ("persistkit export --format jsonl (pure Python)", ["export", str(path), "-o", str(out)],
         {"out_path": out, "env": PURE_ENV}),
    ]:
        print(f"  {label}", flush=True)
        r = H.persistkit_run(label, cmd, in_bytes=size, mem_limit_mb=4096, timeout=3600, **kw)
        print(f"    -> {r.wall:.2f}s rss {r.rss_mb:.0f} MB {r.note}", flush=True)
        runs.append(r)
    out.unlink(missing_ok=True)
    print("  redis-check-rdb (the RDB 14 build's)", flush=True)
    chk = H.run("redis-check-rdb (Redis 8.8-era build)", [check, str(path)], in_bytes=size, timeout=3600)
    print(f"    -> {chk.wall:.2f}s rss {chk.rss_mb:.0f} MB {chk.note}", flush=True)
    runs.append(chk)
    rows = [[r.label, H.fmt(r.wall, 2), H.fmt(r.mbps()), H.ratio(r.mbps(), chk.mbps()),
             f"{r.rss_mb:.0f}", r.note or ""] for r in runs]
    headers = ["command", "wall s", "MB/s", "vs redis-check-rdb", "peak RSS MB", "note"]
    H.print_table(headers, rows)
    H.save_runs("newformats", runs, {"file": str(path), "file_size": size})
    if not args.no_results:
        md = (f"## 7. RDB 14 (Redis 8.8) files\n\n{context}\n\n"
              f"`bench/data/newformats-v14.rdb`: {size / H.MB:.1f} MB written by a Redis 8.8-era build's SAVE "
              f"({args.keys} keys: arrays, strings with key metadata, hashes, streams with NACKed entries and "
              "IDMP state). Arrays, stream v5 values and key metadata are read by the pure reader on both "
              "paths.\n\n" + H.md_table(headers, rows) + READING)
        H.update_results("newformats", md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
