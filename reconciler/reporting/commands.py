"""``diff`` and ``audit`` end to end: connect, list once, judge, print, and an exit code.

Exit codes follow ``kubectl diff``: 0 nothing to report, 1 something to
report (drift for ``diff``; stale or recycled addresses for ``audit``), 2 or
more an error, which is one sentence on stderr and never a traceback. The
error codes say whose move it is:

- 2: the command line, a ``HEADLESS_RECONCILER_*`` variable or the kubeconfig;
- 3: the API server could not be reached;
- 4: the API server refused our credentials (401) or permissions (403);
- 5: any other failed request (the server kept failing, Istio's CRDs absent).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any, TextIO

import yaml

from reconciler.api.client import KubeClient, KubeConfigError, load_configuration
from reconciler.api.errors import (
    NO_RESPONSE,
    ApiError,
    ForbiddenError,
    NotFoundError,
    UnauthorizedError,
)
from reconciler.api.ratelimit import TokenBucket
from reconciler.api.retrying import RetryPolicy
from reconciler.config import AuditSettings, DiffSettings, ReportSettings
from reconciler.reporting.audit import audit
from reconciler.reporting.diff import diff_view
from reconciler.reporting.progress import Progress
from reconciler.reporting.rendering import audit_json, audit_text, diff_json, diff_text
from reconciler.reporting.scope import Scope
from reconciler.reporting.snapshot import (
    ListFailed,
    planned_keys,
    qualified_name,
    take_snapshot,
)
from reconciler.runtime.cache import ClusterCache

ONE_SHOT_RETRIES = RetryPolicy(attempts=3)
"""A person is waiting: fail within a second or two rather than retry for long."""


class ExitCode(IntEnum):
    CLEAN = 0
    FOUND = 1
    """``diff``: drift; ``audit``: stale or recycled addresses."""
    USAGE = 2
    UNREACHABLE = 3
    DENIED = 4
    API_ERROR = 5


class CommandError(Exception):
    """A failure to report as one sentence, with the exit code that classifies it."""

    def __init__(self, sentence: str, code: ExitCode) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.code = code


async def run_diff(
    settings: DiffSettings,
    *,
    out: TextIO,
    err: TextIO,
    colour: bool = False,
    progress: Progress | None = None,
) -> int:
    """``headless-reconciler diff``: print the plan; the exit code."""

    def report(cache: ClusterCache, scope: Scope) -> tuple[str, bool]:
        found = diff_view(
            cache,
            planned_keys(cache, selector=settings.selector),
            settings=settings.planning(),
            now_timestamp=_rfc3339_now(),
            scope=scope,
        )
        text = diff_json(found) if settings.output == "json" else diff_text(found, colour=colour)
        return text, found.drift

    return await _one_shot(settings, report, out=out, err=err, progress=progress)


async def run_audit(
    settings: AuditSettings,
    *,
    out: TextIO,
    err: TextIO,
    colour: bool = False,
    progress: Progress | None = None,
) -> int:
    """``headless-reconciler audit``: print the findings; the exit code."""

    def report(cache: ClusterCache, scope: Scope) -> tuple[str, bool]:
        found = audit(
            service_entries=cache.service_entries,
            workload_entries=cache.workload_entries,
            slices=cache.endpoint_slices,
            view=cache,
            settings=settings.planning(),
            scope=scope,
        )
        text = audit_json(found) if settings.output == "json" else audit_text(found, colour=colour)
        return text, found.problems

    return await _one_shot(settings, report, out=out, err=err, progress=progress)


Report = Callable[[ClusterCache, Scope], tuple[str, bool]]


async def _one_shot(
    settings: ReportSettings,
    report: Report,
    *,
    out: TextIO,
    err: TextIO,
    progress: Progress | None,
) -> int:
    scope = Scope(namespaces=settings.namespaces, selector=settings.selector)
    try:
        cache = await _snapshot(settings, scope=scope, progress=progress)
    except CommandError as error:
        err.write(f"error: {error.sentence}.\n")
        return error.code
    text, found = report(cache, scope)
    out.write(text)
    out.flush()
    return ExitCode.FOUND if found else ExitCode.CLEAN


async def _snapshot(
    settings: ReportSettings, *, scope: Scope, progress: Progress | None
) -> ClusterCache:
    configuration = await _configuration(settings)
    server = str(configuration.host)
    observer = progress.on_request if progress is not None else None
    try:
        async with KubeClient(
            configuration,
            retry_policy=ONE_SHOT_RETRIES,
            on_request=observer,
            rate_limit=TokenBucket(qps=settings.qps, burst=settings.burst),
        ) as client:
            return await take_snapshot(
                client,
                scope=scope,
                cluster_domain=settings.cluster_domain,
                paired_name_template=settings.paired_name_template,
                progress=progress,
            )
    except ListFailed as failed:
        raise explain(failed, server=server) from None
    finally:
        if progress is not None:
            progress.clear()


async def _configuration(settings: ReportSettings) -> Any:
    kubeconfig = str(settings.kubeconfig) if settings.kubeconfig else None
    try:
        return await load_configuration(kubeconfig=kubeconfig, context=settings.context)
    except KubeConfigError as error:
        raise CommandError(_sentence(str(error)), ExitCode.USAGE) from None
    except (yaml.YAMLError, TypeError, ValueError, AttributeError) as error:
        # The client library lets a malformed kubeconfig through as these.
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CommandError(
            f"cannot load the cluster configuration: the kubeconfig is malformed ({detail})",
            ExitCode.USAGE,
        ) from None


def explain(failed: ListFailed, *, server: str) -> CommandError:
    """The one sentence, and exit code, for a list that failed."""
    error: ApiError = failed.error
    resource = qualified_name(failed.resource)
    if error.code == NO_RESPONSE:
        return CommandError(
            _sentence(f"cannot reach the API server at {server}: {error.message}"),
            ExitCode.UNREACHABLE,
        )
    if isinstance(error, UnauthorizedError):
        return CommandError(
            f"the API server at {server} did not accept the credentials (401 Unauthorized); "
            "check --kubeconfig and --context",
            ExitCode.DENIED,
        )
    if isinstance(error, ForbiddenError):
        return CommandError(
            _sentence(f"not allowed to list {resource} (403 Forbidden): {error.message}"),
            ExitCode.DENIED,
        )
    if isinstance(error, NotFoundError) and failed.resource.group:
        return CommandError(
            f"the API server at {server} does not serve {resource} "
            f"({failed.resource.api_version}): are Istio's CRDs (Istio 1.22 or later) installed?",
            ExitCode.API_ERROR,
        )
    return CommandError(
        _sentence(f"listing {resource} failed: {error}"),
        ExitCode.API_ERROR,
    )


def _sentence(text: str) -> str:
    """One sentence: the error text without the trailing period the caller adds."""
    return " ".join(text.split()).rstrip(".")


def _rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
