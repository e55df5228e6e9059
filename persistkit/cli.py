"""The ``persistkit`` command line: parse options, call the library, render.

No format logic lives here. Every command follows the same contract:

* exit 0 when everything is fine, 1 when a problem was found in the data,
  2 for a usage error or an unreadable path;
* ``--json`` prints one JSON document on stdout and nothing else there;
* human output goes through rich; progress bars only when stderr is a terminal;
* a FormatError becomes one line (file, offset, key, expected/found), never a traceback.

Rendering of each command family lives in ``persistkit.render``.
"""

from __future__ import annotations

import functools
import json
import sys

import click

from persistkit import __version__
from persistkit.kvencoding.errors import FormatError
from persistkit.kvencoding.fileio import InputError

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2


class UsageProblem(Exception):
    """A usage error found after option parsing (exit 2)."""


def emit_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False, default=_json_default)
    sys.stdout.write("\n")
    sys.stdout.flush()


def _json_default(o):
    if isinstance(o, (bytes, bytearray, memoryview)):
        from persistkit.render.common import bstr_json

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


def _accelerator_line() -> str:
    from persistkit.accel import version_line

    return version_line()


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="persistkit",
                      message="%(prog)s %(version)s\n" + _accelerator_line())
def main() -> None:
    """Audit, convert and recover Redis / Valkey persistence files (RDB and AOF)."""


def _register_commands() -> None:
    # Each command family registers itself from its own module so that the
    # families stay independent; this file keeps the shared contract above.
    from persistkit.commands import register_all

    register_all(main)


if __name__ == "__main__":  # pragma: no cover
    # Run as a script (python -m persistkit.cli) this file is "__main__", and the
    # command modules import "persistkit.cli": use that module's group instead of
    # registering the commands twice.
    from persistkit.cli import main as _package_main

    _package_main()
else:
    _register_commands()
