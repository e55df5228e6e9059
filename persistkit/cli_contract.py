"""The contract every CLI command follows, in one place: exit codes, the usage-problem
exception, ``--json`` output, and ``guarded`` (library errors -> one line on stderr and the
exit code, never a traceback). Command modules and renderers import it from here; the
entry point (``persistkit.cli``) only builds the click group.
"""

from __future__ import annotations

import functools
import json
import sys

import click

from persistkit.kvencoding.errors import FormatError, UsageProblem
from persistkit.kvencoding.fileio import InputError

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


def emit_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=_json_default)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _json_default(o):
    if isinstance(o, (bytes, bytearray, memoryview)):
        from persistkit.kvencoding.bstr import bstr_json

        return bstr_json(bytes(o))
    if isinstance(o, set):
        return sorted(o)
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def guarded(fn):
    """Map library errors onto the exit-code contract with one clear line on stderr."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            code = fn(*args, **kwargs)
        except FormatError as exc:
            click.echo(f"persistkit: error: {exc}", err=True)
            sys.exit(EXIT_PROBLEM)
        except (InputError, UsageProblem) as exc:
            click.echo(f"persistkit: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except BrokenPipeError:
            # A closed pipe (``| head``) is not an error of ours.
            sys.stderr.close()
            sys.exit(EXIT_OK)
        except OSError as exc:
            name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            click.echo(f"persistkit: {name}{exc.strerror or exc}", err=True)
            sys.exit(EXIT_USAGE)
        sys.exit(code or EXIT_OK)

    return wrapper


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
