"""``persistkit lab``: measure what each persistence mode costs and loses.

Exit 0 when every checked claim holds (or could not be measured), 1 when a measured
figure contradicts one, 2 for a usage error.
"""

from __future__ import annotations

import signal

import click

from persistkit.cli_contract import UsageProblem, emit_json, guarded, json_option


def register(main) -> None:
    @main.command("lab")
    @click.option("--quick", is_flag=True, help="A short run (about 90 s on 2 cores) instead of the full one.")
    @click.option("-o", "--output", "out_dir", type=click.Path(file_okay=False), default=None,
                  help="Write report.json, the PNG plots and index.html into this folder.")
    @click.option("--servers", "server_list", default="engine,redis", show_default=True,
                  help="Which servers to measure (redis is skipped when redis-server is not on PATH).")
    @click.option("--modes", "mode_list", default=",".join(("rdb", "aof-always", "aof-everysec", "aof-no", "hybrid")),
                  show_default=True, help="Persistence modes to measure.")
    @click.option("--seed", default=11, show_default=True, help="Workload seed.")
    @click.option("--no-power-cut", is_flag=True, help="Do not trace the servers (no power-cut losses).")
    @click.option("--scale", type=click.FloatRange(0.01, 100.0), default=1.0, show_default=True,
                  help="Multiply the workload's key counts and durations (0.05: a smoke run of a few seconds).")
    @json_option
    @guarded
    def lab(quick, out_dir, server_list, mode_list, seed, no_power_cut, scale, as_json):
        """Run a seeded workload against the bundled engine and real Redis, in every persistence
        mode, and measure what each loses at kill -9 and at a power cut, recovery time, file
        sizes, rewrite time, write latency during SAVE/BGSAVE, fork time and copy-on-write."""
        from dataclasses import replace

        from persistkit.lab import runner, servers
        from persistkit.render.common import progress_enabled, stderr_console, stdout_console

        kinds = tuple(s.strip() for s in server_list.split(",") if s.strip())
        modes = tuple(m.strip() for m in mode_list.split(",") if m.strip())
        bad = [k for k in kinds if k not in (servers.ENGINE, servers.REDIS)]
        if bad or not kinds:
            raise UsageProblem(f"--servers: unknown server {', '.join(bad) or '(none)'} (engine, redis)")
        bad = [m for m in modes if m not in servers.MODES]
        if bad or not modes:
            raise UsageProblem(f"--modes: unknown mode {', '.join(bad) or '(none)'} ({', '.join(servers.MODES)})")
        plan = runner.quick_plan(seed) if quick else runner.full_plan(seed)
        plan = runner.scaled(plan, scale)
        plan = replace(plan, servers=kinds, modes=modes, loss=replace(plan.loss, trace=not no_power_cut))

        # SIGTERM cleans up like Ctrl-C: the runner kills its servers in ``finally``
        def _term(signum, frame):
            raise KeyboardInterrupt

        old_term = signal.signal(signal.SIGTERM, _term)
        try:
            report = _run_with_progress(runner, plan, progress_enabled(), stderr_console())
        except runner.LabError as exc:
            raise UsageProblem(f"lab: {exc}") from None
        finally:
            signal.signal(signal.SIGTERM, old_term)
        if out_dir:
            runner.write_outputs(report, out_dir)
        if as_json:
            emit_json(report)
        else:
            from persistkit.render.lab import render_report

            console = stdout_console()
            if not console.is_terminal:
                # in a pipe or a log, rich assumes 80 columns: the tables need more
                from rich.console import Console

                console = Console(file=console.file, highlight=False, soft_wrap=False, width=140)
            render_report(report, console)
            if out_dir:
                console.print(f"wrote {out_dir}/report.json, {out_dir}/index.html"
                              + (f" and {len(report['plots'])} plots" if report.get("plots") else ""))
        return 1 if any(c["holds"] is False for c in report["checks"]) else 0


def _run_with_progress(runner, plan, show: bool, console):
    if not show:
        return runner.run_lab(plan)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]lab[/bold]"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), TextColumn("{task.description}"), console=console, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        progress = runner.Progress(on_message=lambda msg: bar.update(task, description=msg),
                                   on_step=lambda: bar.advance(task))

        def run():
            return runner.run_lab(plan, progress)

        # the total is known once the runner has looked at which servers exist
        kinds, _ = runner.available_servers(plan.servers)
        bar.update(task, total=runner.step_count(plan, kinds))
        return run()
