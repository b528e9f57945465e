"""What ``/healthz`` and ``/readyz`` answer, as named checks.

Liveness asks "would restarting this process help?": it fails only when
something is stuck. The event loop is alive if it answers at all (a blocked
loop times the probe out); a watcher is alive while it shows any sign of
life: a list or watch request, a watch line, or a restart, failures included.
Every watcher does one of these within a watch timeout plus its read margin
and backoff, so silence for longer than ``stall_after`` means it hangs. An
API server that refuses us is not a reason to restart: that is the watch
*progress* the ``HeadlessReconcilerWatchStalled`` alert looks at (a list or
watch answered 2xx, a watch line, or a stream the server ended normally).

Readiness asks "should this replica be counted as serving?": its caches
have synced and it is not shutting down; it turns false at the very first
moment of shutdown, before in-flight writes finish. Leader election will add
its own check (leading, or a healthy standby) with :meth:`Health.add_readiness`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reconciler.watching import Restart, RestartReason

Check = Callable[[], str | None]
"""A named condition: None when it holds, else one phrase saying what is wrong."""

PROGRESS_VERBS = frozenset({"list", "watch"})


class WatchActivity:
    """Per watched resource: the last sign of life, and the last sign of progress (monotonic)."""

    def __init__(
        self, resources: Iterable[str], *, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._monotonic = monotonic
        started = monotonic()
        self._alive = dict.fromkeys(resources, started)
        self._progress = dict(self._alive)

    def requested(self, verb: str, resource: str, code: str) -> None:
        """An API request finished (a ``KubeClient`` request observer)."""
        if verb not in PROGRESS_VERBS or resource not in self._alive:
            return
        now = self._monotonic()
        self._alive[resource] = now
        if code.startswith("2"):
            self._progress[resource] = now

    def received(self, resource: str, type: str) -> None:
        """A watch line arrived (any type, bookmarks included)."""
        del type
        if resource in self._alive:
            self._alive[resource] = self._progress[resource] = self._monotonic()

    def restarted(self, restart: Restart) -> None:
        if restart.resource not in self._alive:
            return
        now = self._monotonic()
        self._alive[restart.resource] = now
        if restart.reason is RestartReason.CLOSED:
            self._progress[restart.resource] = now

    def last_progress(self) -> dict[str, float]:
        """Per resource, the monotonic time of its last progress."""
        return dict(self._progress)

    def silent(self, *, longer_than: float) -> list[str]:
        """Resources whose watcher has shown no sign of life for ``longer_than`` seconds."""
        now = self._monotonic()
        return sorted(name for name, last in self._alive.items() if now - last > longer_than)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The answer to one probe: each check's name and problem (None when it passes)."""

    results: tuple[tuple[str, str | None], ...]

    @property
    def ok(self) -> bool:
        return all(problem is None for _, problem in self.results)

    def render(self, *, verbose: bool) -> str:
        """``ok``, or the kube-apiserver's ``[+]name ok`` / ``[-]name failed: why`` lines."""
        if self.ok and not verbose:
            return "ok\n"
        lines = [
            f"[+]{name} ok" if problem is None else f"[-]{name} failed: {problem}"
            for name, problem in self.results
        ]
        lines.append("ok" if self.ok else "check failed")
        return "\n".join(lines) + "\n"


class Health:
    """The liveness and readiness checks of one controller process."""

    def __init__(self) -> None:
        self._liveness: dict[str, Check] = {}
        self._readiness: dict[str, Check] = {}

    def add_liveness(self, name: str, check: Check) -> None:
        self._liveness[name] = check

    def add_readiness(self, name: str, check: Check) -> None:
        """Where leader election plugs in: a standby is ready while its lease loop is healthy."""
        self._readiness[name] = check

    def live(self) -> ProbeResult:
        return _run(self._liveness)

    def ready(self) -> ProbeResult:
        return _run(self._readiness)


def _run(checks: dict[str, Check]) -> ProbeResult:
    return ProbeResult(tuple((name, check()) for name, check in checks.items()))


def watches_alive(activity: WatchActivity, *, stall_after: float) -> Check:
    """Fails while a watcher has been silent for more than ``stall_after`` seconds."""

    def check() -> str | None:
        silent = activity.silent(longer_than=stall_after)
        if not silent:
            return None
        return f"no sign of life for over {stall_after:g}s from the watch of {', '.join(silent)}"

    return check
