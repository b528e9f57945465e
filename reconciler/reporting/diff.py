"""``diff``: the controller's own plan for everything in scope, with what each write would change.

The planner is the one ``run`` uses, on the same cache, so ``diff`` shows
exactly what the controller would do now (STYLE.md, point 2: a rendering of
the plan, not a second opinion). Each object gets its action, and, for the
actions that change something, the fields before and after as the API would
show them and the exact requests ``run`` would send (bodies from
:mod:`reconciler.applying.patches`, the ones the applier sends).

ServiceEntries and WorkloadEntries are patched. A paired Service is created
whole (``before`` is empty: nothing is there yet), patched, or deleted with
preconditions (``after`` is empty); its action is keyed by the paired Service,
and says which headless Service asked for it. Advice that needs no write (a
gRPC port Istio cannot name) comes as notes, which are never drift.

A one-shot diff has no history, so the mass-removal guard holds every mass
removal it sees (in ``run`` it would be written once it had lasted
``--removal-grace``): such an object is reported held, with the write it
would get once the hold ends, and it counts as drift.

Exit status follows from :attr:`DiffReport.drift`: an object drifts when it
would be written, or when drift stays that the controller cannot write (held,
a WorkloadEntry whose pod has no ready address, a desired state Istio would
reject). A refusal or conflict that names no drift (a cross-namespace
reference, a DNS ServiceEntry, a foreign Service where a paired one should
be) is listed but is not drift: ``run`` would change nothing.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from reconciler.api.client import delete_options
from reconciler.api.resources import BY_KIND, SERVICES
from reconciler.applying.patches import (
    MERGE_PATCH,
    health_patch,
    paired_service_body,
    paired_service_patch,
    paired_service_preconditions,
    service_entry_patch,
    workload_entry_patch,
)
from reconciler.models.projections import Service, ServiceEntry, WorkloadEntry
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.outcome import applied_to_service_entry, applied_to_workload_entry
from reconciler.planning.pairing import service_key
from reconciler.planning.planner import plan
from reconciler.planning.plans import (
    Action,
    CreatePairedService,
    DeletePairedService,
    Note,
    NoWrite,
    PairedServiceAction,
    SetWorkloadEntryHealth,
    UpdatePairedService,
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
Method = Literal["POST", "PATCH", "DELETE"]

PLANNED_KINDS = (Kind.SERVICE_ENTRY, Kind.WORKLOAD_ENTRY, Kind.SERVICE)
"""The kinds ``diff`` plans, in the order its summary counts them."""
JSON: Final = "application/json"
_ONE_SHOT_NOW = 0.0
"""Monotonic time is meaningless without history: every hold starts now."""


@dataclass(frozen=True, slots=True)
class Request:
    """One request ``run`` would send: a merge patch, a whole new object, or a delete.

    ``path`` is the URL path without the query (``run`` adds
    ``fieldManager=headless-reconciler`` to creates and patches, and
    ``dryRun=All`` under ``--server-dry-run``). A DELETE's body is the
    ``DeleteOptions`` carrying its preconditions.
    """

    method: Method
    path: str
    body: JsonObject
    content_type: str = MERGE_PATCH
    subresource: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectDiff:
    """One object's action and, when it would change, its fields before and after."""

    action: Action
    write: WriteAction | None
    """What the object would be written: the action itself, or for a held change the
    write that follows once the hold ends; None when nothing would be written."""
    before: JsonObject | None
    """The fields ``write`` changes, as the API shows them now (``{"spec": {...}}``);
    empty for an object ``write`` creates."""
    after: JsonObject | None
    """The same fields once written; empty for an object ``write`` deletes."""
    requests: tuple[Request, ...]

    @property
    def key(self) -> ObjectKey:
        return self.action.key

    @property
    def drift(self) -> bool:
        return self.write is not None or bool(self.action.changes)


@dataclass(frozen=True, slots=True)
class DiffReport:
    """Every object with something to report, by key, the notes, and how much was checked."""

    objects: tuple[ObjectDiff, ...]
    checked: Mapping[Kind, int]
    scope: Scope
    notes: tuple[Note, ...] = ()
    """Advice about objects that need no write; never drift."""

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
    """Plan ``keys`` once, as a controller with no history would, and describe each action.

    Objects are ordered by key: a paired Service's action sits under the
    paired Service's own name, not under the headless Service that asked.
    """
    keys = sorted(set(keys))
    planned = plan(
        keys,
        view=view,
        settings=settings,
        now=_ONE_SHOT_NOW,
        now_timestamp=now_timestamp,
        holds={},
    )
    released = _writes_once_released(
        planned.actions, view=view, settings=settings, now_timestamp=now_timestamp
    )
    objects = [_object_diff(action, released.get(action.key), view) for action in planned]
    checked = Counter(key.kind for key in keys if key.kind in PLANNED_KINDS)
    return DiffReport(
        objects=tuple(sorted(objects, key=lambda diff: diff.key)),
        checked=dict(checked),
        scope=scope,
        notes=planned.notes,
    )


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
        holds={},
    )
    return {action.key: action for action in released.writes}


def _object_diff(action: Action, released: WriteAction | None, view: ClusterView) -> ObjectDiff:
    write = released if isinstance(action, NoWrite) else action
    if write is None:
        return ObjectDiff(action=action, write=None, before=None, after=None, requests=())
    before, after = _fields(write, view)
    return ObjectDiff(
        action=action, write=write, before=before, after=after, requests=requests_of(write)
    )


def requests_of(write: WriteAction) -> tuple[Request, ...]:
    """The requests ``run`` sends for ``write``, in order.

    An address update with a health flip is two requests: the spec, then the
    ``status`` subresource. The second carries the resourceVersion the first
    returns; shown here is the current one, the only one known in advance.
    """
    if isinstance(write, UpdateServiceEntryEndpoints):
        return (_patch(write.key, service_entry_patch(write)),)
    if isinstance(write, UpdateWorkloadEntryAddress):
        spec = _patch(write.key, workload_entry_patch(write))
        if write.health is None:
            return (spec,)
        return (spec, _health(write.health))
    if isinstance(write, SetWorkloadEntryHealth):
        return (_health(write),)
    return (_paired_service_request(write),)


def _patch(key: ObjectKey, body: JsonObject, *, subresource: str | None = None) -> Request:
    path = BY_KIND[key.kind].path(
        namespace=key.namespace, name=key.name, subresource=subresource or ""
    )
    return Request("PATCH", path, body, subresource=subresource)


def _health(write: SetWorkloadEntryHealth) -> Request:
    body = health_patch(write, resource_version=write.resource_version)
    return _patch(write.key, body, subresource="status")


def _paired_service_request(write: PairedServiceAction) -> Request:
    key = write.key
    if isinstance(write, CreatePairedService):
        path = SERVICES.path(namespace=key.namespace)
        return Request("POST", path, paired_service_body(write), content_type=JSON)
    if isinstance(write, UpdatePairedService):
        return _patch(key, paired_service_patch(write))
    options = delete_options(preconditions=paired_service_preconditions(write))
    path = SERVICES.path(namespace=key.namespace, name=key.name)
    return Request("DELETE", path, options, content_type=JSON)


def _fields(write: WriteAction, view: ClusterView) -> tuple[JsonObject, JsonObject]:
    """The fields ``write`` changes, before and after, read from the cached object."""
    key = write.key
    if isinstance(write, CreatePairedService):
        return {}, paired_service_body(write)
    if isinstance(write, UpdatePairedService):
        return _picked(write.before, write.fields), _picked(write.after, write.fields)
    if isinstance(write, DeletePairedService):
        return _kept_fields(write.before), {}
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


def _kept_fields(service: Service) -> JsonObject:
    """What the controller keeps of a paired Service, spelled as the applier's create body.

    The body of a create is the one rendering of those fields (marks, copied
    spec) that :mod:`~reconciler.applying.patches` offers for any Service.
    """
    key = service_key(service)
    return paired_service_body(CreatePairedService(key=key, source=key, after=service))


def _picked(service: Service, fields: Sequence[str]) -> JsonObject:
    """Only ``fields`` (``spec.ports``, ``metadata.annotations``...) of :func:`_kept_fields`."""
    kept = _kept_fields(service)
    picked: JsonObject = {}
    for field in fields:
        section, name = field.split(".", 1)
        value = kept.get(section, {}).get(name)
        if value is not None:
            picked.setdefault(section, {})[name] = value
    return picked


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
