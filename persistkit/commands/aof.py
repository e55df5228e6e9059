"""AOF command family: ``repair`` (AOF inputs, and RDB salvage for RDB inputs).

``verify``, ``inspect`` and ``export`` are registered by the RDB family; for AOF inputs
they call ``aoftools.verify.verify_aof``, ``aoftools.inspect.inspect_aof`` and
``aoftools.export.export_aof``.
"""

from __future__ import annotations

import os

import click

from persistkit.cli_contract import EXIT_OK, EXIT_PROBLEM, UsageProblem, emit_json, guarded, json_option


def _is_hybrid_aof(inp) -> bool:
    """An RDB that is the preamble of a single-file AOF: its aux fields say so
    (``aof-preamble`` = 1, rdb.c rdbSaveInfoAuxFields), or RESP bytes follow its trailer.
    False for a plain RDB (and for a damaged one that does not say so). ``inp``: the
    input as detected (its open stream is walked when the aux fields do not tell)."""
    from persistkit.kvencoding.errors import FormatError
    from persistkit.kvencoding.source import ByteSource
    from persistkit.rdbtools.reader import RDBReader, preamble_flag_of

    flag = preamble_flag_of(inp.buffered())
    if flag is not None:
        return flag
    stream = inp.take()
    try:
        src = ByteSource(stream, name=inp.path, size=inp.size)
        for _ in RDBReader(src, strategy="skip"):  # a checksum mismatch: not a preamble
            pass
        return not src.at_eof()
    except FormatError:
        return False
    finally:
        stream.close()


def register(main) -> None:
    @main.command("repair")
    @click.argument("path")
    @click.option("-o", "--output", "out", metavar="OUT",
                  help="Where to write the repaired file or directory (never the input).")
    @click.option("--dry-run", is_flag=True, help="Only report what would be kept and dropped.")
    @click.option("--follow-symlinks", is_flag=True,
                  help="Accept AOF files that are symlinks leading outside the AOF folder.")
    @json_option
    @guarded
    def repair(path, out, dry_run, follow_symlinks, as_json):
        """Save what can be saved from a damaged AOF (or RDB) into a new file.

        AOF (single file, hybrid, or multi-part directory / manifest): keep every complete
        command before the first damage, drop the damaged tail and every later file, and
        write a complete new file or directory. Exit 0 when the input was intact, 1 when
        damage was found (and repaired), 2 for usage errors. The input is never modified."""
        from persistkit.detect import open_detected

        if not dry_run and not out:
            raise UsageProblem("repair needs -o OUT (or --dry-run)")
        if out and os.path.exists(path) and os.path.exists(out):
            from persistkit.kvencoding.fileio import same_file

            if same_file(path, out):
                raise UsageProblem("the output must not be the input")
        with open_detected(path) as inp:
            kind = inp.kind
            hybrid = kind == "rdb" and _is_hybrid_aof(inp)
        if out and kind in ("aof-dir", "aof-manifest"):
            from persistkit.kvencoding.fileio import inside_folder

            folder = path if kind == "aof-dir" else os.path.dirname(os.path.abspath(path))
            if inside_folder(folder, out):
                raise UsageProblem(f"the output {out} must not be inside the input folder {folder}")
        if kind == "rdb" and not hybrid:
            return _salvage(path, out, dry_run, as_json)
        if kind not in ("aof", "aof-dir", "aof-manifest", "rdb"):
            raise UsageProblem(f"{path}: not an AOF or RDB input (detected: {kind})")
        from persistkit.aoftools.repair import repair_aof
        from persistkit.render.aof import render_repair

        report = repair_aof(path, out, dry_run=dry_run, follow_symlinks=follow_symlinks)
        if as_json:
            emit_json(report)
        else:
            render_repair(report)
        return EXIT_PROBLEM if report["damage"] or report["corrected"] else EXIT_OK


def _salvage(path, out, dry_run, as_json):
    from persistkit.rdbtools.salvage import salvage_rdb
    from persistkit.render.aof import render_salvage

    report = salvage_rdb(path, None if dry_run else out)
    if as_json:
        emit_json(report)
    else:
        render_salvage(report)
    damaged = report.get("lost") or report.get("corrected") or report.get("checksum") == "mismatch"
    return EXIT_PROBLEM if damaged else EXIT_OK
