"""``diff``: the controller's own plan for everything in scope, with what each write would change.

The planner is the one ``run`` uses, on the same cache, so ``diff`` shows
exactly what the controller would do now (STYLE.md, point 2: a rendering of
the plan, not a second opinion). Each object gets its action, and, for the
actions that change something, the fields before and after as the API would
show them and the exact patches ``run`` would send (from
:mod:`reconciler.applying.patches`, the bodies the applier sends).

A one-shot diff has no history, so the mass-removal guard holds every mass
removal it sees (in ``run`` it would be written once it had lasted
``--removal-grace``): such an object is reported held, with the write it
would get once the hold ends, and it counts as drift.

Exit status follows from :attr:`DiffReport.drift`: an object drifts when it
would be written, or when drift stays that the controller cannot write (held,
a WorkloadEntry whose pod has no ready address, a desired state Istio would
reject). A refusal that names no drift (a cross-namespace reference, a
DNS ServiceEntry) is listed but is not drift.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from reconciler.applying.patches import (
    MERGE_PATCH,
    health_patch,
    service_entry_patch,
    workload_entry_patch,
)
from reconciler.models.projections import ServiceEntry, WorkloadEntry
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.outcome import applied_to_service_entry, applied_to_workload_entry
from reconciler.planning.planner import plan
from reconciler.planning.plans import (
    Action,
    NoWrite,
    SetWorkloadEntryHealth,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
    WriteAction,
    is_write,
)
from reconciler.planning.settings import PlanningSettings
from reconciler.planning.view import ClusterView
from reconciler.reporting.scope import Scope

JsonObject = dict[str, Any]

PLANNED_KINDS = (Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY)
_ONE_SHOT_NOW = 0.0
"""Monotonic time is meaningless without history: every hold starts now."""


@dataclass(frozen=True, slots=True)
class Patch:
    """One request ``run`` would send: a JSON merge patch, to the object or a subresource."""

    body: JsonObject
    subresource: str | None = None
    content_type: str = MERGE_PATCH


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    """One object's action and, when it would change, its fields before and after."""

    action: Action
    write: WriteAction | None
    """What the object would be written: the action itself, or for a held change the
    write that follows once the hold ends; None when nothing would be written."""
    before: JsonObject | None
    """The fields ``write`` changes, as the API shows them now (``{"spec": {...}}``)."""
    after: JsonObject | None
    patches: tuple[Patch, ...]

    @property
    def key(self) -> ObjectKey:
        return self.action.key

    @property
    def drift(self) -> bool:
        return self.write is not None or bool(self.action.changes)


@dataclass(frozen=True, slots=True)
class DiffReport:
    """Every object with something to report, by key, and how many objects were checked."""

    objects: tuple[ObjectDiff, ...]
    checked: Mapping[Kind, int]
    scope: Scope

    @property
    def drift(self) -> bool:
        return any(diff.drift for diff in self.objects)

    def changing(self) -> Counter[Kind]:
        """Objects ``run`` would write now, by kind (held ones wait, so they do not count)."""
        return Counter(diff.key.kind for diff in self.objects if is_write(diff.action))

    def withheld(self) -> Counter[Verdict]:
        return Counter(
            diff.action.verdict for diff in self.objects if isinstance(diff.action, NoWrite)
        )


def diff_view(
    view: ClusterView,
    keys: Iterable[ObjectKey],
    *,
    settings: PlanningSettings,
    now_timestamp: str,
    scope: Scope,
) -> DiffReport:
    """Plan ``keys`` once, as a controller with no history would, and describe each action."""
    keys = sorted(set(keys))
    planned = plan(
        keys,
        view=view,
        settings=settings,
        now=_ONE_SHOT_NOW,
        now_timestamp=now_timestamp,
        held_since={},
    )
    released = _writes_once_released(
        planned.actions, view=view, settings=settings, now_timestamp=now_timestamp
    )
    objects = tuple(_object_diff(action, released.get(action.key), view) for action in planned)
    checked = Counter(key.kind for key in keys if key.kind in PLANNED_KINDS)
    return DiffReport(objects=objects, checked=dict(checked), scope=scope)


def _writes_once_released(
    actions: Iterable[Action],
    *,
    view: ClusterView,
    settings: PlanningSettings,
    now_timestamp: str,
) -> dict[ObjectKey, WriteAction]:
    """For held changes: the write the guard lets through once the grace period is over."""
    held = [a.key for a in actions if isinstance(a, NoWrite) and a.verdict is Verdict.HELD]
    if not held:
        return {}
    released = plan(
        held,
        view=view,
        settings=dataclasses.replace(settings, removal_grace=0.0),
        now=_ONE_SHOT_NOW,
        now_timestamp=now_timestamp,
        held_since={},
    )
    return {action.key: action for action in released.writes}


def _object_diff(action: Action, released: WriteAction | None, view: ClusterView) -> ObjectDiff:
    write = released if isinstance(action, NoWrite) else action
    if write is None:
        return ObjectDiff(action=action, write=None, before=None, after=None, patches=())
    before, after = _fields(write, view)
    return ObjectDiff(
        action=action, write=write, before=before, after=after, patches=patches_of(write)
    )


def patches_of(write: WriteAction) -> tuple[Patch, ...]:
    """The requests ``run`` sends for ``write``, in order.

    An address update with a health flip is two requests: the spec, then the
    ``status`` subresource. The second carries the resourceVersion the first
    returns; shown here is the current one, the only one known in advance.
    """
    if isinstance(write, UpdateServiceEntryEndpoints):
        return (Patch(service_entry_patch(write)),)
    if isinstance(write, UpdateWorkloadEntryAddress):
        spec = Patch(workload_entry_patch(write))
        if write.health is None:
            return (spec,)
        return (spec, _health(write.health))
    return (_health(write),)


def _health(write: SetWorkloadEntryHealth) -> Patch:
    body = health_patch(write, resource_version=write.resource_version)
    return Patch(body, subresource="status")


def _fields(write: WriteAction, view: ClusterView) -> tuple[JsonObject, JsonObject]:
    """The fields ``write`` changes, before and after, read from the cached object."""
    key = write.key
    if isinstance(write, UpdateServiceEntryEndpoints):
        entry = view.service_entry(key.namespace, key.name)
        assert entry is not None, f"planned {key} is not in the view"
        return _endpoints(entry), _endpoints(applied_to_service_entry(entry, write))
    workload = view.workload_entry(key.namespace, key.name)
    assert workload is not None, f"planned {key} is not in the view"
    after = applied_to_workload_entry(workload, write)
    with_spec = isinstance(write, UpdateWorkloadEntryAddress)
    with_status = isinstance(write, SetWorkloadEntryHealth) or (
        isinstance(write, UpdateWorkloadEntryAddress) and write.health is not None
    )
    return (
        _workload_fields(workload, spec=with_spec, status=with_status),
        _workload_fields(after, spec=with_spec, status=with_status),
    )


def _endpoints(entry: ServiceEntry) -> JsonObject:
    return {"spec": {"endpoints": list(msgspec.to_builtins(entry.spec.endpoints or ()))}}


def _workload_fields(entry: WorkloadEntry, *, spec: bool, status: bool) -> JsonObject:
    fields: JsonObject = {}
    if spec:
        fields["spec"] = {"address": entry.spec.address}
    if status:
        conditions = entry.status.conditions if entry.status is not None else None
        fields["status"] = {"conditions": list(msgspec.to_builtins(conditions or ()))}
    return fields
