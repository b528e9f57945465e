"""The ``headless-reconciler`` command line.

Each subcommand is a thin shell: it validates its options, then hands over to
the module that does the work, so the same code is reachable from tests
without going through the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer

from reconciler import __version__

app = typer.Typer(
    name="headless-reconciler",
    help="Keep Istio ServiceEntries and WorkloadEntries pointed at live StatefulSet pod IPs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def demo() -> None:
    """Show the problem on the built-in simulated cluster (no cluster needed)."""
    from reconciler.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo()))


@app.command()
def run(
    kubeconfig: Annotated[
        Path | None, typer.Option(help="Kubeconfig file (default: KUBECONFIG, in-cluster).")
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    namespace: Annotated[
        list[str] | None,
        typer.Option("--namespace", "-n", help="Namespace in scope (repeatable; default all)."),
    ] = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run", help="Compute and report, never write.")
    ] = None,
    server_dry_run: Annotated[
        bool | None,
        typer.Option("--server-dry-run", help="Send every write with dryRun=All."),
    ] = None,
    cluster_domain: Annotated[str | None, typer.Option(help="Default cluster.local.")] = None,
    removal_grace_seconds: Annotated[
        float | None,
        typer.Option(
            "--removal-grace", help="Seconds a mass removal must persist before it is written."
        ),
    ] = None,
    allow_cross_namespace: Annotated[
        list[str] | None,
        typer.Option(help="FROM=TO namespace pair allowed to reference (repeatable)."),
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Objects reconciled at once.")] = None,
    resync_seconds: Annotated[
        float | None, typer.Option("--resync", help="Seconds between safety-net resyncs.")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="auto, json or text.")] = None,
    log_level: Annotated[str | None, typer.Option(help="debug, info, warning, error.")] = None,
) -> None:
    """Run the controller: watch, reconcile, write (until SIGTERM/SIGINT)."""
    from reconciler import logs, running
    from reconciler.config import ConfigError, RunSettings, build

    try:
        settings = build(
            RunSettings,
            kubeconfig=kubeconfig,
            context=context,
            namespaces=tuple(namespace) if namespace else None,
            dry_run=dry_run,
            server_dry_run=server_dry_run,
            cluster_domain=cluster_domain,
            removal_grace_seconds=removal_grace_seconds,
            allow_cross_namespace=tuple(allow_cross_namespace) if allow_cross_namespace else None,
            workers=workers,
            resync_seconds=resync_seconds,
            log_format=log_format,
            log_level=log_level,
        )
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    logs.configure(log_format=settings.log_format, level=settings.log_level)
    raise typer.Exit(asyncio.run(running.run(settings)))


@app.command()
def simulate(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1 (0 picks a free one).")
    ] = 0,
    kubeconfig_out: Annotated[
        Path, typer.Option(help="Where to write a kubeconfig for kubectl, diff and run.")
    ] = Path("simulator.kubeconfig"),
    world: Annotated[
        str, typer.Option(help="What to seed: 'empty' or 'demo' (a StatefulSet and entries).")
    ] = "empty",
) -> None:
    """Run the simulated Kubernetes API server alone, until interrupted."""
    from reconciler.simulator.playground import run_playground
    from reconciler.testbed.worlds import WORLDS

    if world not in WORLDS:
        raise typer.BadParameter(
            f"{world!r} is not one of: {', '.join(sorted(WORLDS))}", param_hint="--world"
        )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run_playground(port=port, kubeconfig_out=kubeconfig_out, seed_world=WORLDS[world])
        )


def main() -> None:
    app()
