"""The ``headless-reconciler`` command line.

Each subcommand is a thin shell: it validates its options, then hands over to
the module that does the work, so the same code is reachable from tests
without going through the terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from reconciler import __version__

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

    from reconciler.config import ReportSettings

S = TypeVar("S", bound="BaseSettings")

INTERRUPTED = 130
"""The shell's exit code for a command stopped by Ctrl-C."""

app = typer.Typer(
    name="headless-reconciler",
    help="Keep Istio ServiceEntries and WorkloadEntries pointed at live StatefulSet pod IPs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain usage errors: one "Error: ..." line a script's log can show, no boxes.
    rich_markup_mode=None,
)

KubeconfigOption = Annotated[
    Path | None,
    typer.Option(metavar="FILE", help="Kubeconfig file (default: KUBECONFIG, in-cluster)."),
]
ContextOption = Annotated[str | None, typer.Option(metavar="NAME", help="Kubeconfig context.")]
NamespaceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--namespace", "-n", metavar="NS", help="Namespace in scope (repeatable; default all)."
    ),
]
AllNamespacesOption = Annotated[
    bool | None,
    typer.Option("--all-namespaces", "-A", help="Every namespace (the default)."),
]
SelectorOption = Annotated[
    str | None,
    typer.Option(
        "--selector",
        "-l",
        metavar="SELECTOR",
        help="Label selector for the ServiceEntries and WorkloadEntries.",
    ),
]
OutputOption = Annotated[
    str | None, typer.Option("--output", "-o", metavar="text|json", help="Output format.")
]
ClusterDomainOption = Annotated[
    str | None, typer.Option(metavar="DOMAIN", help="Default cluster.local.")
]
AllowCrossNamespaceOption = Annotated[
    list[str] | None,
    typer.Option(
        metavar="FROM=TO",
        help="Let entries in namespace FROM follow Services and pods in TO (repeatable).",
    ),
]


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def demo(
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running",
            help="Leave the simulator and controller up afterwards, with a kubeconfig to use.",
        ),
    ] = False,
) -> None:
    """Show the problem and its repair on the built-in simulated cluster (no cluster needed)."""
    from reconciler.demo import run_demo

    try:
        code = asyncio.run(run_demo(keep_running=keep_running))
    except KeyboardInterrupt:
        code = 0 if keep_running else INTERRUPTED
    raise typer.Exit(code)


PairedNameTemplateOption = Annotated[
    str | None,
    typer.Option(
        metavar="TEMPLATE",
        help='Name of a paired Service asked for with "true" (default {name}-grpc).',
    ),
]


@app.command()
def diff(
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = None,
    selector: SelectorOption = None,
    output: OutputOption = None,
    cluster_domain: ClusterDomainOption = None,
    allow_cross_namespace: AllowCrossNamespaceOption = None,
    removal_grace_seconds: Annotated[
        float | None,
        typer.Option(
            "--removal-grace",
            metavar="SECONDS",
            help="As for run: 0 shows mass removals as changes instead of holds.",
        ),
    ] = None,
    paired_name_template: PairedNameTemplateOption = None,
) -> None:
    """Show what run would change now, like kubectl diff (exit 0: none, 1: drift, 2+: error)."""
    from reconciler.config import DiffSettings
    from reconciler.reporting.commands import run_diff

    settings = _report_settings(
        DiffSettings,
        kubeconfig=kubeconfig,
        context=context,
        namespaces=tuple(namespace) if namespace else None,
        all_namespaces=all_namespaces,
        selector=selector,
        output=output,
        cluster_domain=cluster_domain,
        allow_cross_namespace=tuple(allow_cross_namespace) if allow_cross_namespace else None,
        removal_grace_seconds=removal_grace_seconds,
        paired_name_template=paired_name_template,
    )
    _report(run_diff, settings)


@app.command()
def audit(
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    all_namespaces: AllNamespacesOption = None,
    selector: SelectorOption = None,
    output: OutputOption = None,
    cluster_domain: ClusterDomainOption = None,
    allow_cross_namespace: AllowCrossNamespaceOption = None,
    paired_name_template: PairedNameTemplateOption = None,
) -> None:
    """Find stale and recycled pod IPs in every STATIC entry, opted in or not (read-only)."""
    from reconciler.config import AuditSettings
    from reconciler.reporting.commands import run_audit

    settings = _report_settings(
        AuditSettings,
        kubeconfig=kubeconfig,
        context=context,
        namespaces=tuple(namespace) if namespace else None,
        all_namespaces=all_namespaces,
        selector=selector,
        output=output,
        cluster_domain=cluster_domain,
        allow_cross_namespace=tuple(allow_cross_namespace) if allow_cross_namespace else None,
        paired_name_template=paired_name_template,
    )
    _report(run_audit, settings)


def _report_settings(settings_type: type[S], **flags: Any) -> S:
    from reconciler.config import ConfigError, build

    try:
        return build(settings_type, **flags)
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def _report(command: Callable[..., Coroutine[Any, Any, int]], settings: ReportSettings) -> None:
    """Run a one-shot command: colour on a terminal only, progress on a terminal's stderr."""
    from reconciler.reporting.progress import Progress

    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    try:
        code = asyncio.run(
            command(
                settings,
                out=sys.stdout,
                err=sys.stderr,
                colour=colour,
                progress=Progress.on_stderr(),
            )
        )
    except KeyboardInterrupt:
        code = INTERRUPTED
    raise typer.Exit(code)


@app.command()
def run(
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run", help="Compute and report, never write.")
    ] = None,
    server_dry_run: Annotated[
        bool | None,
        typer.Option("--server-dry-run", help="Send every write with dryRun=All."),
    ] = None,
    cluster_domain: ClusterDomainOption = None,
    removal_grace_seconds: Annotated[
        float | None,
        typer.Option(
            "--removal-grace",
            metavar="SECONDS",
            help="Seconds a mass removal must persist before it is written.",
        ),
    ] = None,
    allow_cross_namespace: AllowCrossNamespaceOption = None,
    workers: Annotated[
        int | None, typer.Option(metavar="N", help="Objects reconciled at once.")
    ] = None,
    resync_seconds: Annotated[
        float | None,
        typer.Option("--resync", metavar="SECONDS", help="Seconds between safety-net resyncs."),
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(metavar="auto|json|text", help="Log format.")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(metavar="LEVEL", help="debug, info, warning, error.")
    ] = None,
    metrics_address: Annotated[
        str | None,
        typer.Option(metavar="[HOST]:PORT", help="Metrics and health endpoints (default :8080)."),
    ] = None,
    paired_name_template: PairedNameTemplateOption = None,
    leader_elect: Annotated[
        bool | None,
        typer.Option(
            "--leader-elect/--no-leader-elect",
            help="Only the Lease holder writes (default: on in a cluster, off with --dry-run).",
        ),
    ] = None,
    lease_name: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="The Lease (default headless-reconciler)."),
    ] = None,
    lease_namespace: Annotated[
        str | None,
        typer.Option(metavar="NS", help="Namespace of the Lease (default: the pod's own)."),
    ] = None,
    lease_duration: Annotated[
        int | None,
        typer.Option(metavar="SECONDS", help="How long standbys wait for a silent leader (15)."),
    ] = None,
    renew_deadline: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Unrenewed this long, the leader stops writing (10)."),
    ] = None,
    retry_period: Annotated[
        float | None,
        typer.Option(metavar="SECONDS", help="Seconds between Lease renewals and tries (2)."),
    ] = None,
    shard_index: Annotated[
        int | None, typer.Option(metavar="I", help="This replica set's shard, 0 to N-1.")
    ] = None,
    shard_count: Annotated[
        int | None, typer.Option(metavar="N", help="Shards, each with its own Lease (1).")
    ] = None,
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
            metrics_address=metrics_address,
            paired_name_template=paired_name_template,
            leader_elect=leader_elect,
            lease_name=lease_name,
            lease_namespace=lease_namespace,
            lease_duration=lease_duration,
            renew_deadline=renew_deadline,
            retry_period=retry_period,
            shard_index=shard_index,
            shard_count=shard_count,
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
