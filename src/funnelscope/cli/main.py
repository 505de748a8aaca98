"""The `funnelscope` command. Heavy modules (duckdb, pyarrow) load only inside commands."""

from __future__ import annotations

import os
import sys

import click

from funnelscope.cli.clv import clv
from funnelscope.cli.correlate import correlate
from funnelscope.cli.demo import demo
from funnelscope.cli.experiment import experiment
from funnelscope.cli.funnel import funnel
from funnelscope.cli.identities import identities
from funnelscope.cli.ingest import forget, ingest, quarantine, sources
from funnelscope.cli.marketing import diagnose, report, whatif
from funnelscope.cli.paths import paths
from funnelscope.cli.pipeline import pipeline
from funnelscope.cli.report_html import report_html
from funnelscope.cli.retention import retention
from funnelscope.cli.serve import keys, serve, users
from funnelscope.cli.templates import templates
from funnelscope.errors import FunnelscopeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="funnelscope")
def cli() -> None:
    """funnelscope: exact sales and marketing funnels from your own event exports.

    \b
    Start:  funnelscope demo                      (synthetic shop, loaded and shown)
    Yours:  funnelscope ingest events.csv         (into ./funnelscope.duckdb)
            funnelscope funnel checkout.yaml      (steps, conversion, drop-off, time)
    Reports: funnelscope diagnose ads.csv analytics.csv inquiries.csv orders.csv
    """


cli.add_command(ingest)
cli.add_command(quarantine)
cli.add_command(sources)
cli.add_command(forget)
cli.add_command(identities)
cli.add_command(funnel)
cli.add_command(correlate)
cli.add_command(paths)
cli.add_command(demo)
cli.add_command(templates)
cli.add_command(report)
cli.add_command(diagnose)
cli.add_command(whatif)
cli.add_command(experiment)
cli.add_command(pipeline)
cli.add_command(retention)
cli.add_command(clv)
cli.add_command(serve)
cli.add_command(keys)
cli.add_command(users)
cli.add_command(report_html)


def main(argv: list[str] | None = None) -> int:
    """Entry point: user errors print one clear line and exit 1, never a traceback."""
    # numpy asks for transparent huge pages on big arrays; where the kernel then compacts memory
    # on first touch (defrag=madvise, common), each fresh 100 MB costs ~3x more (measured
    # 0.18 s vs 0.05 s). A short-lived command allocates fresh memory throughout, so it opts out.
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
    from funnelscope.waits import report_waits_to

    report_waits_to(_show_wait)
    try:
        code = cli.main(args=argv, prog_name="funnelscope", standalone_mode=False)
    except FunnelscopeError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return code if isinstance(code, int) else 0


def _show_wait(holder: str, waited: float, allowed: float) -> None:
    """A line on stderr when the wait begins and about every 10 s after."""
    global _next_wait_note
    if waited == 0 or waited >= _next_wait_note:
        click.echo(
            f"waiting for {holder}, which is writing the store ({waited:.0f} of "
            f"{allowed:.0f} s; FUNNELSCOPE_WAIT sets how long)",
            err=True,
        )
        _next_wait_note = waited + 10 if waited else 10


_next_wait_note = 0.0


def run() -> None:
    """The console script: `main`, then a prompt exit. Every store is closed by the time main
    returns; skipping the interpreter's teardown (freeing large arrays one by one, unloading
    the compiler) saves 0.1-0.2 s per command."""
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
