"""Failures on demand, so tests can show the controller survives a misbehaving API server.

Everything is a small declarative rule set through :class:`Faults` (reachable as
``sim.faults``): error rates per verb and resource (500, 503, 429 with
``Retry-After``) drawn from a seeded RNG, added latency, watches cut after N
events, the next watch of a resource answered with 410 Expired, history
compaction, a real 403 for a (verb, resource), requests held until a test
releases them, and a "restart" that drops every connection and refuses new
ones for a while. Rules match the request as RBAC sees it (:class:`RequestRecord`),
which is also what the simulator's request log keeps, optionally narrowed to
one client by its User-Agent prefix (``agent``): a fault campaign breaks the
controller's requests while the test world keeps changing through the same
server. Every declaring call returns its :class:`Rule`, which :meth:`Faults.lift`
takes back, so a fault can last a while and end.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from reconciler.simulator.errors import ApiError
from reconciler.simulator.resources import ALL_KINDS
from reconciler.simulator.store import Store

ADMIN_USER = "admin"
"""The user the kubeconfig's bearer token authenticates as."""


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request, named the way an RBAC rule names it."""

    verb: str
    """get, list, watch, create, update, patch, delete, deletecollection."""
    group: str
    resource: str
    """Plural resource name; empty for discovery and other non-resource paths."""
    subresource: str
    namespace: str
    name: str
    user_agent: str
    path: str


def forbidden(request: RequestRecord, *, user: str) -> ApiError:
    """403 as RBAC denies it, e.g. ``services is forbidden: User "x" cannot list ...``."""
    resource = (
        f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    )
    qualified = f"{request.resource}.{request.group}" if request.group else request.resource
    subject = f'{qualified} "{request.name}"' if request.name else qualified
    scope = (
        f'in the namespace "{request.namespace}"' if request.namespace else "at the cluster scope"
    )
    details: dict[str, str] = {}
    if request.name:
        details["name"] = request.name
    if request.group:
        details["group"] = request.group
    details["kind"] = request.resource
    return ApiError(
        403,
        "Forbidden",
        f'{subject} is forbidden: User "{user}" cannot {request.verb} resource "{resource}" in API'
        f' group "{request.group}" {scope}',
        details=details,
    )


def _injected(code: int, retry_after: int) -> ApiError:
    if code == 429:
        return ApiError(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            details={"retryAfterSeconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
    if code == 503:
        return ApiError(
            503, "ServiceUnavailable", "the server is currently unable to handle the request"
        )
    if code == 500:
        return ApiError(
            500,
            "InternalError",
            "Internal error occurred: injected fault",
            details={"causes": [{"message": "injected fault"}]},
        )
    return ApiError(code, "", f"injected fault {code}")


@dataclass(slots=True, eq=False)
class Rule:
    """One declared fault; pass it to :meth:`Faults.lift` to end it early."""

    verb: str | None
    resource: str | None
    times: int | None
    """How many more requests the rule applies to; None for no limit."""
    agent: str | None = None
    """Only requests whose User-Agent starts with this; None for every client."""

    def matches(self, request: RequestRecord) -> bool:
        return (
            (self.verb is None or self.verb == request.verb)
            and (self.resource is None or self.resource == request.resource)
            and (self.agent is None or request.user_agent.startswith(self.agent))
        )

    def consume(self) -> bool:
        """Count one use; False once the rule is spent."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True


@dataclass(slots=True, eq=False)
class _ErrorRule(Rule):
    code: int = 500
    rate: float = 1.0
    retry_after: int = 1


@dataclass(slots=True, eq=False)
class _DelayRule(Rule):
    seconds: float = 0.0


@dataclass(slots=True, eq=False)
class _DropRule(Rule):
    events: int = 1


class Hold:
    """Requests matching a predicate wait here until :meth:`release`."""

    def __init__(self, predicate: Callable[[RequestRecord], bool]) -> None:
        self.predicate = predicate
        self.held: list[RequestRecord] = []
        self._released = asyncio.Event()
        self._arrived = asyncio.Condition()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def release(self) -> None:
        self._released.set()

    async def wait_arrived(self, count: int = 1) -> None:
        """Wait until ``count`` requests are being held."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.held) >= count)

    async def _hold(self, request: RequestRecord) -> None:
        async with self._arrived:
            self.held.append(request)
            self._arrived.notify_all()
        await self._released.wait()


@dataclass(slots=True)
class _Rules:
    errors: list[_ErrorRule] = field(default_factory=list)
    delays: list[_DelayRule] = field(default_factory=list)
    drops: list[_DropRule] = field(default_factory=list)
    expiring: list[Rule] = field(default_factory=list)
    forbidden: set[tuple[str, str]] = field(default_factory=set)
    holds: list[Hold] = field(default_factory=list)


class Faults:
    """The fault rules in force; the server consults them on every request."""

    def __init__(self, store: Store, *, seed: int = 0) -> None:
        self._store = store
        self._rng = random.Random(seed)
        self._rules = _Rules()
        self.on_restart: Callable[[float], Awaitable[None]] | None = None
        """Set by the simulator: drops connections and pauses the listener."""

    # -- declaring faults ------------------------------------------------------------------------

    def fail(
        self,
        code: int,
        *,
        verb: str | None = None,
        resource: str | None = None,
        rate: float = 1.0,
        times: int | None = None,
        retry_after: int = 1,
        agent: str | None = None,
    ) -> Rule:
        """Answer matching requests with ``code`` (500, 503 or 429) with probability ``rate``."""
        rule = _ErrorRule(
            verb, resource, times, agent, code=code, rate=rate, retry_after=retry_after
        )
        self._rules.errors.append(rule)
        return rule

    def delay(
        self,
        seconds: float,
        *,
        verb: str | None = None,
        resource: str | None = None,
        agent: str | None = None,
    ) -> Rule:
        """Add latency to matching requests."""
        rule = _DelayRule(verb, resource, None, agent, seconds=seconds)
        self._rules.delays.append(rule)
        return rule

    def drop_watches_after(
        self,
        events: int,
        *,
        resource: str | None = None,
        times: int | None = None,
        agent: str | None = None,
    ) -> Rule:
        """Cut matching watch connections (no clean end) after they sent ``events`` events."""
        rule = _DropRule("watch", resource, times, agent, events=events)
        self._rules.drops.append(rule)
        return rule

    def expire_next_watch(self, resource: str, *, times: int = 1, agent: str | None = None) -> Rule:
        """The next ``times`` watches of ``resource`` get a 410 Expired ERROR event."""
        rule = Rule("watch", resource, times, agent)
        self._rules.expiring.append(rule)
        return rule

    def lift(self, rule: Rule) -> None:
        """End one declared fault; requests already being delayed or held are not affected."""
        rules = self._rules
        rules.errors = [kept for kept in rules.errors if kept is not rule]
        rules.delays = [kept for kept in rules.delays if kept is not rule]
        rules.drops = [kept for kept in rules.drops if kept is not rule]
        rules.expiring = [kept for kept in rules.expiring if kept is not rule]

    def compact(self, resource: str | None = None) -> None:
        """Forget history (of one resource, or all): older resourceVersions become 410."""
        kinds = [k for k in ALL_KINDS if resource is None or k.plural == resource]
        for kind in kinds:
            self._store.compact(kind)

    def forbid(self, verb: str, resource: str) -> None:
        """Deny ``verb`` on ``resource`` with a real 403 Forbidden Status."""
        self._rules.forbidden.add((verb, resource))

    def hold(self, predicate: Callable[[RequestRecord], bool]) -> Hold:
        """Hold matching requests until the returned :class:`Hold` is released."""
        hold = Hold(predicate)
        self._rules.holds.append(hold)
        return hold

    async def restart(self, pause: float) -> None:
        """Drop every open connection and refuse new ones for ``pause`` seconds."""
        if self.on_restart is None:
            raise RuntimeError("the simulator is not running")
        await self.on_restart(pause)

    def clear(self) -> None:
        """Remove every rule and release every hold."""
        for hold in self._rules.holds:
            hold.release()
        self._rules = _Rules()

    # -- consulted by the server -----------------------------------------------------------------

    async def before(self, request: RequestRecord) -> None:
        """Apply holds, latency, denials and injected errors to one request."""
        for hold in list(self._rules.holds):
            if not hold.released and hold.predicate(request):
                await hold._hold(request)
        for delay in self._rules.delays:
            if delay.matches(request):
                await asyncio.sleep(delay.seconds)
        if (request.verb, request.resource) in self._rules.forbidden:
            raise forbidden(request, user=ADMIN_USER)
        for rule in self._rules.errors:
            if rule.matches(request) and self._rng.random() < rule.rate and rule.consume():
                raise _injected(rule.code, rule.retry_after)

    def watch_drop_after(self, request: RequestRecord) -> int | None:
        for rule in self._rules.drops:
            if rule.matches(request) and rule.consume():
                return rule.events
        return None

    def take_expiry(self, request: RequestRecord) -> bool:
        return any(rule.matches(request) and rule.consume() for rule in self._rules.expiring)
