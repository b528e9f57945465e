"""What must hold after every schedule, read from the simulator's own write log.

The write log is the server's record of every write request that reached it,
in the order it handled them, with the body, the result and the User-Agent
(so, the replica). Nothing here asks the controller what it meant to do: each
check replays the log against the world's truth.

- ``foreign``: the controller never sent a write to an object it does not
  manage (one not opted in, a Service without our marks, an auto-registered
  WorkloadEntry), successful or not.
- ``user-field``: every endpoint list the controller wrote carries, for every
  pod, the user fields (weight, locality, labels, ports) the last other writer
  gave that pod's endpoint, even after the pod went away and came back.
- ``guard``: the controller never removed more than half of an entry's
  endpoints, or all of them, adding none, unless the world had really wanted
  that few for the whole removal grace: a relist or a missing slice never
  empties an entry.
- ``term``: every write came from the replica holding the Lease at that point
  of the log; never two writers in one lease term.
- ``writes``: the writes to each managed object stay within a bound of the real
  changes that concern it (no flapping, no hot loop).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from reconciler.planning.references import POD_NAME_LABEL
from reconciler.simulator.store import WriteRecord
from reconciler.testbed.campaign.replicas import identity_of
from reconciler.testbed.campaign.world import ENTRIES, Key, field_value

USER_FIELDS: Final = ("weight", "locality", "labels.tier", "ports")
LEASES: Final = "coordination.k8s.io/leases"
EVENTS: Final = frozenset({"events", "events.k8s.io/events"})
SLACK: Final = 0.05
"""Seconds: the world notes a change just before it makes it."""
WRITES_PER_CHANGE: Final = 3
"""A restart may cost a removal and an addition (and a health flip for a WorkloadEntry)."""
WRITES_ALLOWANCE: Final = 2


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.invariant}: {self.detail}"


@dataclass(slots=True)
class LogReplay:
    """Per entry, what the endpoints are and what user fields each pod's endpoint must keep."""

    endpoints: dict[Key, list[dict[str, Any]]] = field(default_factory=dict)
    user_fields: dict[Key, dict[str, dict[str, Any]]] = field(default_factory=dict)


def target_of(write: WriteRecord) -> Key:
    """(plural, namespace, name) of a write; subresources count as their object."""
    plural = write.resource.split("/status")[0].rpartition("/")[2]
    return (plural, write.namespace, write.name)


def check(
    log: Sequence[WriteRecord],
    *,
    managed: frozenset[Key],
    timeline: Sequence[tuple[float, Mapping[Key, int]]],
    grace: float,
    changes: Mapping[Key, int],
    since: int,
) -> list[Violation]:
    """Every violation in ``log``; the writes bound counts from position ``since``."""
    return [
        *foreign_writes(log, managed=managed),
        *endpoint_writes(log, timeline=timeline, grace=grace),
        *writes_outside_terms(log),
        *writes_beyond_bound(log[since:], changes=changes),
    ]


def reason_of(write: WriteRecord) -> str:
    """An Event's reason and message, to say which one; empty for anything else."""
    body = write.body if isinstance(write.body, dict) else {}
    if "reason" not in body:
        return ""
    return f" {body.get('reason')}: {body.get('note') or body.get('message')}"


def event_said(write: WriteRecord) -> tuple[str, str, str] | None:
    """(object, reason, message) of an Event write; None for anything else."""
    body = write.body if isinstance(write.body, dict) else {}
    if write.resource not in EVENTS or "reason" not in body:
        return None
    regarding = body.get("regarding") or body.get("involvedObject") or {}
    message = str(body.get("note") or body.get("message"))
    return (str(regarding.get("name")), str(body.get("reason")), message)


def controller_writes(log: Iterable[WriteRecord]) -> Iterator[tuple[str, WriteRecord]]:
    for write in log:
        identity = identity_of(write.user_agent)
        if identity is not None:
            yield identity, write


def foreign_writes(log: Iterable[WriteRecord], *, managed: frozenset[Key]) -> Iterator[Violation]:
    for identity, write in controller_writes(log):
        if write.resource in EVENTS or write.resource == LEASES:
            continue
        if target_of(write) not in managed:
            yield Violation(
                "foreign", f"{identity} sent {write.verb} {write.resource} {target_of(write)}"
            )


def endpoint_writes(
    log: Iterable[WriteRecord],
    *,
    timeline: Sequence[tuple[float, Mapping[Key, int]]],
    grace: float,
) -> Iterator[Violation]:
    """Replay every ServiceEntry write: user fields kept, the removal guard respected."""
    replay = LogReplay()
    entries = {entry.key for entry in ENTRIES}
    for write in log:
        key = target_of(write)
        if key not in entries or not write.applied or write.dry_run:
            continue
        after = _endpoints_in(write.body)
        if after is None:
            continue
        before = replay.endpoints.get(key, [])
        if identity_of(write.user_agent) is None:
            replay.user_fields[key] = {
                pod: {name: field_value(e, name) for name in USER_FIELDS if _has(e, name)}
                for e in after
                if (pod := _pod_of(e)) is not None
            }
        else:
            yield from _lost_fields(key, after, replay.user_fields.get(key, {}))
            yield from _unguarded_removal(key, write, before, after, timeline, grace)
        replay.endpoints[key] = after


def _endpoints_in(body: Any) -> list[dict[str, Any]] | None:
    if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
        return None
    if "endpoints" not in body["spec"]:
        return None
    return list(body["spec"]["endpoints"] or [])


def _has(endpoint: Mapping[str, Any], name: str) -> bool:
    return field_value(endpoint, name) is not None


def _pod_of(endpoint: Mapping[str, Any]) -> str | None:
    pod = (endpoint.get("labels") or {}).get(POD_NAME_LABEL)
    return pod if isinstance(pod, str) else None


def _lost_fields(
    key: Key, after: Sequence[Mapping[str, Any]], wanted: Mapping[str, Mapping[str, Any]]
) -> Iterator[Violation]:
    for endpoint in after:
        pod = _pod_of(endpoint)
        for name, value in wanted.get(pod or "", {}).items():
            if field_value(endpoint, name) != value:
                yield Violation(
                    "user-field",
                    f"{key[2]}/{pod}: {name} written as {field_value(endpoint, name)!r},"
                    f" was {value!r}",
                )


def _unguarded_removal(
    key: Key,
    write: WriteRecord,
    before: Sequence[Mapping[str, Any]],
    after: Sequence[Mapping[str, Any]],
    timeline: Sequence[tuple[float, Mapping[Key, int]]],
    grace: float,
) -> Iterator[Violation]:
    old = {e.get("address") for e in before}
    new = {e.get("address") for e in after}
    removed, added = len(old - new), len(new - old)
    if added or not removed or (new and removed * 2 <= len(old)):
        return
    since = write.at - grace + SLACK
    wanted = [counts.get(key, 0) for at, counts in _in_effect(timeline, since, write.at)]
    if max(wanted, default=len(old)) > len(new):
        yield Violation(
            "guard",
            f"{key[2]}: {len(old)} -> {len(new)} endpoints while the world wanted {wanted}"
            f" over the last {grace}s",
        )


def _in_effect(
    timeline: Sequence[tuple[float, Mapping[Key, int]]], start: float, end: float
) -> Iterator[tuple[float, Mapping[Key, int]]]:
    """The truths in force at some moment of [start, end]."""
    for index, (at, counts) in enumerate(timeline):
        following = timeline[index + 1][0] if index + 1 < len(timeline) else float("inf")
        if at <= end and following > start:
            yield at, counts


def writes_outside_terms(log: Iterable[WriteRecord]) -> Iterator[Violation]:
    """Every controller write must come from the holder of the last Lease write before it."""
    holder: str | None = None
    for write in log:
        if write.resource == LEASES:
            if write.applied and isinstance(write.body, dict):
                holder = (write.body.get("spec") or {}).get("holderIdentity") or None
            continue
        identity = identity_of(write.user_agent)
        if identity is not None and identity != holder:
            yield Violation(
                "term",
                f"{identity} sent {write.verb} {target_of(write)} while {holder!r} held the Lease",
            )


def writes_beyond_bound(
    log: Iterable[WriteRecord], *, changes: Mapping[Key, int]
) -> Iterator[Violation]:
    for key, count in count_writes(log).items():
        bound = WRITES_PER_CHANGE * changes.get(key, 0) + WRITES_ALLOWANCE
        if count > bound:
            yield Violation("writes", f"{key}: {count} writes for {changes.get(key, 0)} changes")


def count_writes(log: Iterable[WriteRecord]) -> dict[Key, int]:
    """Applied controller writes per object, Events and the Lease aside."""
    counts: dict[Key, int] = {}
    for _, write in controller_writes(log):
        if write.applied and write.resource not in EVENTS and write.resource != LEASES:
            key = target_of(write)
            counts[key] = counts.get(key, 0) + 1
    return counts
