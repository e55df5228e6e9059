"""Rich rendering for the RDB commands (inspect, verify) and a shared progress bar."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from persistkit.render.common import display_bytes, progress_enabled, stderr_console


def _bstr_text(x) -> str:
    if isinstance(x, dict) and "hex" in x:
        return "hex:" + x["hex"][:78]
    return display_bytes(str(x).encode("utf-8", "surrogateescape"), 80)


def _size(n) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def render_inspect(data: dict, console: Console) -> None:
    console.print(f"[bold]{data['path']}[/bold]  {data['magic']} RDB version {data['version']}"
                  f"  size {_size(data.get('size'))}  checksum: {data.get('checksum')}")
    if data["aux"]:
        t = Table(title="AUX fields", show_edge=False)
        t.add_column("field")
        t.add_column("value")
        for k, v in data["aux"].items():
            t.add_row(k, _bstr_text(v))
        console.print(t, emoji=False)
    t = Table(title="Databases", show_edge=False)
    for c in ("db", "keys", "expires", "RESIZEDB hint"):
        t.add_column(c, justify="right")
    for db, d in sorted(data["dbs"].items(), key=lambda kv: int(kv[0])):
        hint = d.get("resize_hint")
        t.add_row(db, str(d["keys"]), str(d["expires"]),
                  f"{hint['keys']}/{hint['expires']}" if hint else "-")
    console.print(t, emoji=False)
    t = Table(title="Types and encodings", show_edge=False)
    for c in ("type/encoding", "keys", "bytes"):
        t.add_column(c, justify="right" if c != "type/encoding" else "left")
    for k, v in sorted(data["encodings"].items()):
        t.add_row(k, str(v["keys"]), _size(v["bytes"]))
    console.print(t, emoji=False)
    ttl = data["ttl"]
    console.print("TTL: " + ", ".join(f"{k.replace('lt_', '< ')} {ttl[k]}" for k in
                                       ("none", "expired", "lt_1h", "lt_1d", "lt_30d", "later")))
    if data["biggest"]:
        t = Table(title=f"Biggest keys (top {len(data['biggest'])})", show_edge=False)
        for c in ("db", "key", "type", "encoding", "elements/length", "stored"):
            t.add_column(c)
        for b in data["biggest"]:
            t.add_row(str(b["db"]), _bstr_text(b["key"]), b["type"], b["encoding"],
                      str(b["elements"]) if b["elements"] is not None else
                      (f"{b['length']} B" if b.get("length") is not None else "?"), _size(b["bytes"]))
        console.print(t, emoji=False)
    for f in data["functions"]:
        console.print(f"function library {f['library']} ({f['engine']}), {f['bytes']} bytes", emoji=False)
    for m in data["modules"]:
        console.print(f"module {m['module']} encver {m['encver']}: {m['keys']} keys, {_size(m['bytes'])}", emoji=False)
    for m in data["module_aux"]:
        console.print(f"module aux {m['module']} encver {m['encver']} (when {m['when']})", emoji=False)
    if data.get("slot_info"):
        console.print(f"slot info records: {data['slot_info']}", emoji=False)
    for o in data.get("opaque", []):
        console.print(f"opcode {o['name']} at offset {o['offset']} ({o['bytes']} bytes)", emoji=False)
    if data.get("empty_keys"):
        console.print(f"[yellow]empty collections (skipped by servers): {data['empty_keys']}[/yellow]", emoji=False)
    km = data.get("key_meta") or {}
    if km.get("keys"):
        classes = ", ".join(f"{c} ({n})" for c, n in km["classes"].items())
        console.print(f"key metadata: {km['keys']} key(s); classes: {classes}", markup=False)
    console.print(f"keys: {data['keys']}  with expiry: {data['expires']}  "
                  f"memory estimate: {_size(data['memory_estimate'])}")


def render_verify(reports: Iterable, console: Console, errors: Iterable[tuple[str, str]] = ()) -> None:
    for rep in reports:
        status = "[green]OK[/green]" if rep.ok else "[red]FAILED[/red]"
        warn = sum(1 for p in rep.problems if p.severity == "warning")
        extra = f", {warn} warning(s)" if warn else ""
        keys = rep.stats.get("keys")
        console.print(f"{status} {escape(str(rep.path))} ({rep.kind}{', ' + str(keys) + ' keys' if keys is not None else ''}"
                      f"{extra})")
        for p in rep.problems:
            color = "red" if p.severity == "error" else "yellow"
            where = [f"offset {p.offset}"] if p.offset is not None else []
            if p.key is not None:
                where.append(f"key {display_bytes(p.key, 60)!r}")
            ef = ""
            if p.expected is not None or p.found is not None:
                ef = f" (expected {p.expected or '?'}, found {p.found or '?'})"
            place = ": ".join([str(p.file or rep.path), " ".join(where)] if where else [str(p.file or rep.path)])
            text = escape(f"[{p.code}] {place}: {p.message}{ef}")
            console.print(f"  [{color}]{p.severity}[/{color}] {text}", highlight=False, emoji=False, soft_wrap=True)
    for path, msg in errors:
        console.print(f"[red]ERROR[/red] {escape(str(path))}: {escape(msg)}", emoji=False, soft_wrap=True)


@contextmanager
def progress_bar(description: str):
    """A callback(offset, total) driving a rich progress bar on stderr (terminals only)."""
    if not progress_enabled():
        yield None
        return
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TimeRemainingColumn(), console=stderr_console(), transient=True) as prog:
        task = prog.add_task(description, total=None)

        def update(done: int, total):
            prog.update(task, completed=done, total=total)

        yield update
