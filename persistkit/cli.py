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

import click

from persistkit import __version__
from persistkit.cli_contract import (  # noqa: F401  (the contract, re-exported for library users)
    EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, UsageProblem, emit_json, guarded, json_option,
)


def _print_version(ctx, _param, value) -> None:
    if not value or ctx.resilient_parsing:
        return
    from persistkit.accel import version_line

    click.echo(f"persistkit {__version__}\n{version_line()}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and which accelerator (compiled or pure-python) runs, and exit.")
def main() -> None:
    """Audit, convert and recover Redis / Valkey persistence files (RDB and AOF)."""


def _register_commands() -> None:
    from persistkit.commands import register_all

    register_all(main)


_register_commands()


if __name__ == "__main__":  # python -m persistkit.cli
    main()
