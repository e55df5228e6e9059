"""``persistkit engine serve``: run the bundled reference engine (a Redis-compatible server).

Options are the redis.conf names; ``--config FILE`` reads a redis.conf-style file first
and the command-line options override it (like ``redis-server FILE --opt value``).
"""

from __future__ import annotations

import click

from persistkit.cli_contract import UsageProblem, guarded

# click option -> redis.conf name
_OPTIONS = [
    ("port", "Port (0 = pick a free one; the ready line says which)."),
    ("bind", "Address to listen on (loopback by default)."),
    ("dir", "Working folder for the RDB and the AOF folder."),
    ("dbfilename", "RDB file name."),
    ("save", 'Save points, e.g. "900 1 300 10"; "" disables automatic saves.'),
    ("appendonly", "yes|no: log every write to the AOF."),
    ("appendfsync", "always|everysec|no."),
    ("appenddirname", "AOF folder name (inside --dir)."),
    ("appendfilename", "AOF file name prefix."),
    ("aof-use-rdb-preamble", "yes|no: rewrite the AOF base as an RDB."),
    ("aof-timestamp-enabled", "yes|no: #TS annotations in the AOF."),
    ("aof-load-truncated", "yes|no: load an AOF whose last command is cut."),
    ("rdb-version", "RDB version the engine writes (default 10, as Redis 7.0)."),
    ("requirepass", "Password clients must AUTH with."),
    ("hz", "Timer frequency (expiry, save points, child reaping)."),
    ("databases", "Number of databases."),
]


def register(main) -> None:
    @main.group("engine")
    def engine() -> None:
        """The bundled reference engine: a small Redis-compatible server."""

    def serve(config_file, settings, **opts):
        from persistkit.kvengine.config import Config
        from persistkit.kvengine.server import run_server

        cfg = Config()
        try:
            if config_file:
                cfg.load_file(config_file)
            for name, _ in _OPTIONS:
                value = opts.get(name.replace("-", "_"))
                if value is not None:
                    if name == "save" and value.strip() == "":
                        cfg.values["save"] = []
                    else:
                        cfg.set(name, value)
            for name, value in settings:
                cfg.set(name, value)
        except (ValueError, OSError) as exc:
            raise UsageProblem(str(exc)) from None
        return run_server(cfg, config_file=config_file)

    for name, help_text in reversed(_OPTIONS):
        serve = click.option(f"--{name}", name.replace("-", "_"), default=None, help=help_text)(serve)
    serve = click.option("--set", "settings", nargs=2, multiple=True, metavar="NAME VALUE",
                         help="Any other setting by its redis.conf name.")(serve)
    serve = click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                         default=None, help="A redis.conf-style file.")(serve)
    engine.command("serve")(guarded(serve))
