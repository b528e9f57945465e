"""The ``headless-reconciler`` command line (skeleton; subcommands are added by their issues)."""

from __future__ import annotations

import typer

from reconciler import __version__

app = typer.Typer(
    name="headless-reconciler",
    help="Keep Istio ServiceEntries and WorkloadEntries pointed at live StatefulSet pod IPs.",
    no_args_is_help=True,
    add_completion=False,
)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
