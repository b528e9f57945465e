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
