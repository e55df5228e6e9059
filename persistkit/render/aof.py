"""Human output of the AOF commands (inspect, repair) and of RDB salvage."""

from __future__ import annotations

from rich.table import Table

from persistkit.render.common import stdout_console


def _when(t) -> str:
    if t is None:
        return "-"
    import datetime

    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _range(r) -> str:
    return "-" if not r else f"{_when(r[0])} .. {_when(r[1])}"


def render_repair(report: dict, console=None) -> None:
    console = console or stdout_console()
    dmg = report["damage"]
    for c in report.get("corrected") or []:
        console.print(f"[yellow]corrected[/yellow] {c['file']}: flipped bit {c['bit']} at offset {c['offset']} "
                      "restored (located by the RDB preamble's CRC64)")
    if dmg is None:
        console.print(f"[green]intact[/green]: {report['input']} has no damage; "
                      + ("nothing written (dry run)" if report["dry_run"] else f"clean copy written to {report['output']}"))
        return
    console.print(f"[red]damage[/red] in {dmg['file']} at offset {dmg['offset']}: {dmg['message']}")
    console.print(f"valid data of {dmg['file']} ends at offset {dmg['valid_up_to']}")
    k, d = report["kept"], report["dropped"]
    t = Table(show_header=True, header_style="bold")
    for col in ("", "files", "commands", "bytes", "time range"):
        t.add_column(col)
    t.add_row("kept", ", ".join(k["files"]) or "-", str(k["commands"]), "", _range(k["time_range"]))
    t.add_row("dropped", ", ".join(d["files"]) or "-", str(d["commands"]), str(d["bytes"]), _range(d["time_range"]))
    console.print(t)
    if "preamble_keys" in k:
        console.print(f"RDB preamble: {k['preamble_keys']} keys read before the damage kept")
    if report["dry_run"]:
        console.print("dry run: nothing written")
    else:
        console.print(f"repaired output written to {report['output']}")


def render_salvage(report: dict, console=None) -> None:
    console = console or stdout_console()
    console.print(f"kept {report.get('kept_keys', 0)} keys; lost regions: {len(report.get('lost') or [])}; "
                  f"checksum: {report.get('checksum')}")
    if report.get("corrected"):
        c = report["corrected"]
        console.print(f"corrected a flipped bit at offset {c['offset']} (bit {c['bit']}), located by the CRC64")
    for region in report.get("lost") or []:
        keys = ", ".join(k if isinstance(k, str) else k.get("hex", "?") for k in region.get("keys") or [])
        keys = keys or "no key known"
        console.print(f"  bytes {region['start']}..{region['end']}: {keys}")
    if report.get("output"):
        console.print(f"salvaged RDB written to {report['output']}")


def render_inspect(data: dict, console=None) -> None:
    console = console or stdout_console()
    console.print(f"[bold]{data['path']}[/bold]: {data['layout']}"
                  + (" (hybrid: RDB preamble)" if data.get("hybrid") else ""))
    if data.get("manifest"):
        t = Table(title="manifest", header_style="bold")
        for col in ("file", "seq", "type", "format", "size"):
            t.add_column(col)
        for f in data["manifest"]:
            t.add_row(f["name"], str(f["seq"]), f["type"], f.get("format") or "-", str(f.get("size")))
        console.print(t)
    t = Table(title="files", header_style="bold")
    for col in ("file", "role", "size", "preamble bytes", "preamble keys", "RESP bytes", "commands"):
        t.add_column(col)
    for f in data["files"]:
        t.add_row(f["name"], f["role"], str(f["size"]), str(f.get("preamble_bytes") or 0),
                  str(f.get("preamble_keys") or 0), str(f.get("resp_bytes") or 0), str(f["commands"]))
    console.print(t)
    console.print(f"commands: {data['commands']}, MULTI blocks: {data['multi_blocks']}, "
                  f"time range: {_range(data.get('time_range'))}")
    if data.get("problem"):
        p = data["problem"]
        console.print(f"[red]stopped at damage[/red] in {p['file']} offset {p['offset']}: {p['message']}")
    if data.get("by_command"):
        t = Table(title="commands by name", header_style="bold")
        t.add_column("command")
        t.add_column("count", justify="right")
        for name, n in data["by_command"].items():
            t.add_row(name, str(n))
        console.print(t)
    if data.get("by_db"):
        console.print("per db: " + ", ".join(f"db{db}: {n}" for db, n in data["by_db"].items()))
