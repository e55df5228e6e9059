"""Human output of the recovery commands (replay, merge, diff); JSON shapes come from
the library's ``summary()`` / ``as_dict()``."""

from __future__ import annotations

import contextlib
from datetime import datetime, timezone

from rich.table import Table

from .common import display_bytes, progress_enabled, stderr_console, stdout_console


def _when(t) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _cmd_text(args, limit: int = 60) -> str:
    return display_bytes(b" ".join(bytes(a) for a in args[:6]), limit)


def _dbs_table(dbs: dict, title: str = "keys per db") -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("db", justify="right")
    t.add_column("keys", justify="right")
    t.add_column("with TTL", justify="right")
    for db, c in dbs.items():
        t.add_row(db, str(c["keys"]), str(c["expires"]))
    return t


def render_skip_line(ref, console=None) -> None:
    """One line per skipped command, as it happens (stderr)."""
    c = console or stderr_console()
    c.print(f"skipped {_cmd_text(ref.args)!s} at {ref.file}:{ref.offset} "
            f"(db {ref.db}, {_when(ref.time)}{', inside MULTI' if ref.in_multi else ''})",
            markup=False, soft_wrap=True)


def render_replay(summary: dict, output: dict | None, *, dry_run: bool, to_stderr: bool = False) -> None:
    c = stderr_console() if to_stderr else stdout_console()
    c.print(f"[bold]replay[/bold] {summary['input']} ({summary['layout']}, engine semantics "
            f"{summary['compat']})", highlight=False)
    c.print(f"  snapshot keys loaded: {summary['snapshot_keys']}   commands read: "
            f"{summary['commands_read']}   applied: {summary['commands_applied']}   "
            f"skipped: {summary['commands_skipped']}   error replies: {summary['command_errors']}",
            markup=False)
    lt = summary["log_time"]
    if lt["first"] is not None:
        c.print(f"  log time: {_when(lt['first'])} .. {_when(lt['last'])}", markup=False)
    stop = summary["stop"]
    if stop:
        c.print(f"  stopped ({stop['reason']}) before command #{stop['index']} at "
                f"{stop['file']}:{stop['offset']} ({_when(stop['time'])})"
                + (" — inside a transaction, which was not applied" if stop["inside_transaction"] else ""),
                markup=False)
    if summary["discarded_transaction_commands"]:
        c.print(f"  {summary['discarded_transaction_commands']} queued command(s) of an unfinished "
                "MULTI were not applied", markup=False)
    if summary.get("truncated"):
        tr = summary["truncated"]
        c.print(f"  the log ends in a cut command: loaded up to {tr['file']}:{tr['offset']}", markup=False)
    exp = summary["expired_dropped"]
    if exp["keys"] or exp["fields"]:
        c.print(f"  dropped {exp['keys']} key(s) and {exp['fields']} hash field(s) already expired at "
                f"{summary['reference_time_ms']} ms", markup=False)
    if summary["module_keys_dropped"]:
        c.print(f"  [yellow]{summary['module_keys_dropped']} module value(s) could not be replayed "
                "and were left out[/yellow]")
    if summary.get("array_keys_dropped"):
        c.print(f"  [yellow]{summary['array_keys_dropped']} array value(s) (Redis 8.8) could not be "
                "replayed and were left out[/yellow]")
    if summary.get("stream_meta_dropped"):
        c.print(f"  [yellow]{summary['stream_meta_dropped']} stream(s) lost their IDMP state or NACK "
                "zones (Redis 8.6/8.8 stream metadata)[/yellow]")
    if summary.get("key_meta_dropped"):
        c.print(f"  [yellow]{summary['key_meta_dropped']} key(s) lost their key metadata "
                "(module classes, Redis 8.6+)[/yellow]")
    for e in summary["errors"][:5]:
        c.print(f"  error reply at {e['file']}:{e['offset']}: {e['error']}", markup=False)
    if summary["dbs"]:
        c.print(_dbs_table(summary["dbs"]))
    c.print(f"  total: {summary['keys']} key(s), {summary['functions']} function librar"
            f"{'y' if summary['functions'] == 1 else 'ies'}", markup=False)
    if dry_run:
        where = ""
        if output:
            where = f" (would write {output.get('path') or output.get('url')} as {output['format']}"
            where += f", RDB version {output['rdb_version']})" if "rdb_version" in output else ")"
        c.print(f"  dry run: nothing written{where}", markup=False)
    elif output:
        _render_output(c, output)


def _render_output(c, output: dict) -> None:
    fmt = output["format"]
    if fmt == "redis":
        c.print(f"  sent {output['keys_sent']} key(s) to {output['url']} (RESTORE, payload version "
                f"{output['payload_rdb_version']}), {output['errors']} error(s)", markup=False)
        for m in output["error_messages"][:5]:
            c.print(f"    {m}", markup=False)
    elif fmt == "resp":
        c.print(f"  wrote {output['commands']} command(s) to {output['path']}", markup=False)
    else:
        c.print(f"  wrote {output['path']} ({fmt}, RDB version {output['rdb_version']}"
                f"{' ' + output['dialect'] if output.get('dialect') == 'valkey' else ''})", markup=False)


def render_merge(summary: dict, output: dict | None) -> None:
    c = stdout_console()
    number = {}
    for n, inp in enumerate(summary["inputs"], 1):
        number[inp["path"]] = str(n)
        c.print(f"  [{n}] {inp['path']}: {inp['kind']}, {inp['snapshot_keys']} snapshot key(s) taken, "
                f"{inp['commands_applied']} command(s) applied", markup=False, soft_wrap=True)
    conflicts = summary["conflict_list"]
    if conflicts:
        t = Table(title=f"{len(conflicts)} conflict(s), policy {summary['policy']}", title_justify="left")
        for col in ("db", "key", "in inputs", "winner"):
            t.add_column(col)
        for cf in conflicts[:200]:
            key = cf["key"] if isinstance(cf["key"], str) else "hex:" + cf["key"]["hex"]
            t.add_row("-" if cf["db"] is None else str(cf["db"]), display_bytes(key.encode(), 60),
                      ", ".join(number.get(p, p) for p in cf["inputs"]),
                      number.get(cf["winner"], "none (error policy)") if cf["winner"] else "none (error policy)")
        c.print(t)
        if len(conflicts) > 200:
            c.print(f"  ... and {len(conflicts) - 200} more (--json lists them all)", markup=False)
    if summary["dbs"]:
        c.print(_dbs_table(summary["dbs"]))
    if output:
        _render_output(c, output)
    elif conflicts and summary["policy"] == "error":
        c.print("  conflicts with --on-conflict error: nothing written", markup=False)


def render_diff(data: dict, *, to_stderr: bool = False) -> None:
    c = stderr_console() if to_stderr else stdout_console()
    if data["equal"]:
        c.print(f"{data['a']} and {data['b']} hold the same keyspace", markup=False)
        return
    n = data["counts"]
    c.print(f"{data['a']} -> {data['b']}: {n['added']} added, {n['removed']} removed, "
            f"{n['changed']} changed, {n['functions']} function difference(s)", markup=False)
    for db, d in data["dbs"].items():
        t = Table(title=f"db {db}", title_justify="left")
        t.add_column("")
        t.add_column("key")
        t.add_column("type")
        t.add_column("what")
        for e in d["removed"]:
            t.add_row("-", _k(e["key"]), e["type"], "")
        for e in d["added"]:
            t.add_row("+", _k(e["key"]), e["type"], "")
        for e in d["changed"]:
            ty = e["type"][0] if e["type"][0] == e["type"][1] else f"{e['type'][0]} -> {e['type'][1]}"
            t.add_row("~", _k(e["key"]), ty, ", ".join(e["what"]))
        c.print(t)
    f = data["functions"]
    for label, names in (("+", f["added"]), ("-", f["removed"]), ("~", f["changed"])):
        for name in names:
            c.print(f"{label} function library {_k(name)}", markup=False)


def _k(key) -> str:
    if isinstance(key, str):
        return display_bytes(key.encode(), 70)
    return "hex:" + key["hex"][:68]


@contextlib.contextmanager
def progress_counter(label: str):
    """A rich progress line on a terminal; a no-op callback in pipes."""
    if not progress_enabled():
        yield None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description} {task.completed}"),
                  console=stderr_console(), transient=True) as prog:
        task = prog.add_task(label, total=None)
        yield lambda n: prog.update(task, completed=n)
