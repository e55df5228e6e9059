"""Recovery command family: ``replay``, ``merge``, ``diff`` (library: persistkit.recovery)."""

from __future__ import annotations

import functools
import os
import re
from datetime import datetime, timezone

import click

from persistkit.cli_contract import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageProblem, emit_json, guarded, json_option


def _usage_errors(fn):
    """RecoveryError (a request the input cannot satisfy) and an existing output folder
    are usage errors (exit 2)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from persistkit.recovery.replay import RecoveryError

        try:
            return fn(*args, **kwargs)
        except RecoveryError as exc:
            raise UsageProblem(str(exc)) from None
        except FileExistsError as exc:
            raise UsageProblem(str(exc)) from None

    return wrapper


def parse_time(text: str) -> float:
    """Unix seconds (``1700000000`` or ``1700000000.5``) or ISO-8601; an ISO time without
    a zone is taken as UTC (AOF #TS annotations are UTC unix seconds)."""
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        return float(text)
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageProblem(f"--until {text!r}: expected unix seconds or an ISO-8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def parse_offset(text: str) -> tuple:
    name, sep, num = text.rpartition(":")
    if not num.isdigit():
        raise UsageProblem(f"--until-offset {text!r}: expected FILE:BYTES (or BYTES for a single file)")
    return (name if sep else None) or None, int(num)


def _check_not_input(out: str, inputs) -> None:
    from persistkit.kvencoding.fileio import same_file

    for p in inputs:
        if os.path.exists(out) and same_file(p, out):
            raise UsageProblem(f"the output {out} must not be an input")


def _write_file_output(ks, out, fmt, rdb_version, input_version, input_magic) -> dict:
    from persistkit.recovery.output import choose_target, write_aof_dir, write_rdb_file

    target = choose_target(ks, rdb_version, input_version=input_version, input_magic=input_magic)
    if fmt == "aof":
        return write_aof_dir(ks, out, target)
    return write_rdb_file(ks, out, target)


def _planned_output(result, out, fmt, rdb_version, to_url, resp_out):
    """What a dry run would have written (the target version is checked too)."""
    if out:
        from persistkit.recovery.output import choose_target

        t = choose_target(result.keyspace, rdb_version, input_version=result.rdb_version,
                          input_magic=result.rdb_magic)
        return {"format": fmt, "path": out, "rdb_version": t.version, "dialect": t.dialect, "written": False}
    if to_url:
        return {"format": "redis", "url": to_url, "written": False}
    if resp_out:
        return {"format": "resp", "path": resp_out, "written": False}
    return None


def register(main) -> None:
    @main.command("replay")
    @click.argument("path")
    @click.option("-o", "--output", "out", metavar="OUT", help="Write the state to OUT (an RDB, or a "
                  "multi-part AOF folder with --format aof).")
    @click.option("--format", "fmt", type=click.Choice(["rdb", "aof"]), default="rdb", show_default=True)
    @click.option("--rdb-version", type=int, help="RDB version of the output (6-14, 80 = VALKEY080); "
                  "default: the input snapshot's, else 10 (12 when hash field TTLs need it).")
    @click.option("--to", "to_url", metavar="redis://HOST:PORT[/DB]",
                  help="RESTORE the state into a live server (pipelined).")
    @click.option("--resp", "resp_out", metavar="FILE|-",
                  help="Write RESP commands that rebuild the state ('-' = stdout).")
    @click.option("--until", "until", metavar="TIME", help="Stop after the last command logged at or "
                  "before TIME (unix seconds or ISO-8601, UTC unless a zone is given); needs #TS "
                  "annotations, whose resolution is one second: commands logged in TIME's own second "
                  "are applied.")
    @click.option("--until-offset", metavar="FILE:BYTES",
                  help="Apply only commands that end at or before BYTES of FILE (and earlier files).")
    @click.option("--until-command", type=click.IntRange(min=0), metavar="N",
                  help="Apply only the first N commands of the log (SELECT/MULTI/EXEC counted).")
    @click.option("--skip", "skips", multiple=True, metavar="PATTERN",
                  help="Drop commands matching 'NAME' or 'NAME KEY-GLOB' (repeatable).")
    @click.option("--keep-expired", is_flag=True, help="Keep keys whose TTL passed before the "
                  "replay's reference time (the --until time or the last #TS).")
    @click.option("--compat", metavar="VERSION", help="Server version whose command semantics to "
                  "follow (default: the snapshot's redis-ver, else 7.2).")
    @click.option("--dry-run", is_flag=True, help="Replay in memory and report; write nothing.")
    @json_option
    @guarded
    @_usage_errors
    def replay_cmd(path, out, fmt, rdb_version, to_url, resp_out, until, until_offset, until_command,
                   skips, keep_expired, compat, dry_run, as_json):
        """Rebuild the state an RDB / AOF / hybrid AOF / multi-part AOF folder describes.

        The snapshot part is loaded, then every logged command is applied through the
        bundled engine with a loading server's semantics (nothing expires while loading).
        Stop early with --until / --until-offset / --until-command; leave commands out
        with --skip (each one is reported with file, offset and time; inside MULTI/EXEC
        only the matching command is dropped, the rest of the transaction still applies).
        Exit 0 on success, 1 when the input is damaged, 2 for usage errors."""
        from persistkit.recovery.replay import ReplayOptions, Replayer, SkipRule
        from persistkit.render.recovery import progress_counter, render_replay, render_skip_line

        sinks = [x for x in (out, to_url, resp_out) if x]
        if len(sinks) > 1:
            raise UsageProblem("give one of -o OUT, --to URL, --resp FILE|-")
        if not sinks and not dry_run:
            raise UsageProblem("replay needs -o OUT, --to redis://HOST:PORT[/DB], --resp - or --dry-run")
        if resp_out == "-" and as_json:
            raise UsageProblem("--resp - writes to stdout: it cannot be combined with --json")
        if fmt == "aof" and not out:
            raise UsageProblem("--format aof needs -o DIR")
        if out:
            _check_not_input(out, [path])
        opts = ReplayOptions(
            until_time=parse_time(until) if until else None,
            until_offset=parse_offset(until_offset) if until_offset else None,
            until_command=until_command,
            skips=[SkipRule.parse(s) for s in skips],
            keep_expired=keep_expired, compat=compat,
            # a state that is only written out keeps untouched collections encoded
            compact=not dry_run)
        quiet = as_json or resp_out == "-"
        on_skip = None if as_json else (lambda ref: render_skip_line(ref))
        with progress_counter("commands") as prog:
            result = Replayer(path, opts, on_skip=on_skip, progress=prog).run()
        ks = result.keyspace
        output = None
        if dry_run:
            output = _planned_output(result, out, fmt, rdb_version, to_url, resp_out)
        else:
            if out:
                output = _write_file_output(ks, out, fmt, rdb_version, result.rdb_version, result.rdb_magic)
            elif resp_out:
                from persistkit.recovery.output import write_resp_target

                output = write_resp_target(ks, resp_out)
            else:
                from persistkit.recovery.output import send_to_redis

                with progress_counter("keys sent") as prog:
                    output = send_to_redis(ks, to_url, progress=prog)
        summary = result.summary()
        if as_json:
            emit_json({"replay": summary, "output": output, "dry_run": dry_run})
        else:
            render_replay(summary, output, dry_run=dry_run, to_stderr=quiet)
        if output and output.get("errors"):
            return EXIT_PROBLEM
        return EXIT_OK

    @main.command("merge")
    @click.argument("paths", nargs=-1, required=True)
    @click.option("-o", "--output", "out", required=True, metavar="OUT")
    @click.option("--format", "fmt", type=click.Choice(["rdb", "aof"]), default="rdb", show_default=True)
    @click.option("--rdb-version", type=int, help="RDB version of the output (default: the highest "
                  "input snapshot version, else 10; 12 when hash field TTLs need it).")
    @click.option("--on-conflict", "policy", type=click.Choice(["last", "first", "error"]),
                  default="last", show_default=True,
                  help="Which input wins for a key found in several: the later, the earlier, or none "
                  "(exit 1, nothing written).")
    @click.option("--compat", metavar="VERSION", help="Server version whose semantics replays follow.")
    @json_option
    @guarded
    @_usage_errors
    def merge_cmd(paths, out, fmt, rdb_version, policy, compat, as_json):
        """Fold inputs into one snapshot: an AOF set (base + incrs) into a single RDB (an
        offline BGREWRITEAOF), or several RDB/AOF inputs (shards, backups) into one file.

        Every key found in more than one input is reported (db, key, which input won).
        Exit 0 when written, 1 with --on-conflict error and conflicts (nothing written)
        or damaged input, 2 for usage errors."""
        from persistkit.recovery.merge import merge
        from persistkit.render.recovery import render_merge

        _check_not_input(out, paths)
        res = merge(list(paths), policy, compat=compat)
        output = None
        failed = policy == "error" and res.conflicts
        if not failed:
            output = _write_file_output(res.keyspace, out, fmt, rdb_version, res.rdb_version, res.rdb_magic)
        summary = res.summary()
        if as_json:
            emit_json({"merge": summary, "output": output})
        else:
            render_merge(summary, output)
        return EXIT_PROBLEM if failed else EXIT_OK

    @main.command("diff")
    @click.argument("a")
    @click.argument("b")
    @click.option("--commands", "as_commands", is_flag=True,
                  help="Write the RESP commands that turn A into B on stdout (report on stderr).")
    @click.option("--compat", metavar="VERSION", help="Server version whose semantics replays follow.")
    @click.option("--max-keys", type=int, default=None, help="List at most N keys per category and db.")
    @json_option
    def diff_cmd(a, b, as_commands, compat, max_keys, as_json):
        """Key-level differences between two inputs (RDB, AOF file, AOF folder, any mix):
        keys added, removed and changed (type, value, TTL, field TTLs) per db.

        Exit 0 when equal, 1 when different, 2 for usage errors or unreadable input (like diff)."""
        import sys

        from persistkit.kvencoding.errors import FormatError
        from persistkit.kvencoding.fileio import InputError
        from persistkit.recovery.diff import diff_inputs
        from persistkit.recovery.replay import RecoveryError
        from persistkit.render.recovery import render_diff

        if as_commands and as_json:
            click.echo("persistkit: --commands writes RESP to stdout: it cannot be combined with --json", err=True)
            sys.exit(EXIT_USAGE)
        try:
            d = diff_inputs(a, b, compat=compat)
        except FormatError as exc:
            click.echo(f"persistkit: error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except (InputError, RecoveryError, OSError) as exc:
            click.echo(f"persistkit: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        data = d.as_dict(max_keys=max_keys)
        try:
            if as_commands:
                from persistkit.kvencoding.resp import encode_command

                out = sys.stdout.buffer
                for args in d.commands():
                    out.write(encode_command(args))
                out.flush()
                render_diff(data, to_stderr=True)
            elif as_json:
                emit_json(data)
            else:
                render_diff(data)
        except BrokenPipeError:
            sys.stderr.close()
        sys.exit(EXIT_OK if d.equal else EXIT_PROBLEM)
