"""DELETE and deletecollection, as the registry carries them out.

The answer depends on the kind (README surprise 8): built-in Services, Pods and
Namespaces answer with the object, custom resources (and dry runs) with a
Success Status. Preconditions on uid and resourceVersion give 409. A pod bound
to a Node is deleted gracefully (``deletionTimestamp`` in the future, 30 s by
default) and stays, as no kubelet will finish it; ``Foreground`` and
``Orphan`` set their finalizer for the garbage collector; a Namespace turns
``Terminating`` for the namespace controller. deletecollection answers with the
list as it was before deleting.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from aiohttp import web

from reconciler.simulator import serialization
from reconciler.simulator.errors import ApiError, bad_request, not_found
from reconciler.simulator.listing import parse_list_options
from reconciler.simulator.resources import NAMESPACES, PODS, SERVICES, ResourceKind
from reconciler.simulator.store import JsonObject, clone
from reconciler.simulator.verbs import (
    Call,
    Verbs,
    json_problem,
    options_invalid,
    precondition_failed,
)
from reconciler.simulator.watching import parse_bool

_DELETE_RETURNS_OBJECT: Final = frozenset({PODS.key, SERVICES.key, NAMESPACES.key})
_PROPAGATION_POLICIES: Final = ("Foreground", "Background", "Orphan")
_NAMESPACE_FINALIZING: Final = (
    "The system is ensuring all content is removed from this namespace.  Upon completion, this"
    " namespace will automatically be purged by the system."
)


@dataclass(frozen=True, slots=True)
class _DeleteOptions:
    propagation: str | None
    grace: int | None
    uid: str | None
    resource_version: str | None
    dry_run: bool


def _timestamp(seconds_from_now: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Deletes(Verbs):
    """DELETE and deletecollection."""

    async def _delete_options(self, call: Call) -> _DeleteOptions:
        merged: dict[str, Any] = {}
        for name in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
            if name in call.query:
                merged[name] = call.query[name]
        data = await call.request.read()
        if data.strip():
            try:
                body = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                raise bad_request(f"json parse error: {json_problem(error, data)}") from error
            if isinstance(body, dict):
                merged.update({k: v for k, v in body.items() if v is not None})
        dry_run = self._write_options(call, "DeleteOptions").dry_run
        policy = merged.get("propagationPolicy")
        if policy is None and "orphanDependents" in merged:
            orphan = merged["orphanDependents"]
            policy = (
                "Orphan"
                if orphan is True or (isinstance(orphan, str) and parse_bool(orphan))
                else None
            )
        if policy is not None and policy not in _PROPAGATION_POLICIES:
            raise options_invalid(
                "DeleteOptions",
                "propagationPolicy",
                f'Unsupported value: "{policy}": supported values: "Foreground", "Background",'
                ' "Orphan", "nil"',
                "FieldValueNotSupported",
            )
        grace = merged.get("gracePeriodSeconds")
        preconditions = merged.get("preconditions") or {}
        return _DeleteOptions(
            propagation=policy,
            grace=max(0, int(grace)) if grace is not None else None,
            uid=preconditions.get("uid"),
            resource_version=preconditions.get("resourceVersion"),
            dry_run=dry_run,
        )

    async def _delete(self, call: Call) -> web.StreamResponse:
        route = call.target
        assert route.name is not None
        call.audit.name = route.name
        options = await self._delete_options(call)
        stored = self._stored(route, route.name)
        if stored is None:
            raise not_found(route.kind, route.name)
        status, body = self._delete_one(call, route.kind, self._shown(route.kind, stored), options)
        wire_kind = route.kind if body.get("kind") != "Status" else None
        return self._respond(call, status, body, kind=wire_kind)

    async def _delete_collection(self, call: Call) -> web.StreamResponse:
        route = call.target
        kind = route.kind
        list_options = parse_list_options(call.query, kind)
        options = await self._delete_options(call)
        listed_at = self._store.resource_version
        entries = self._lister.current(serialization.storage_kind(kind), route.namespace)
        items: list[JsonObject] = []
        for _, stored in entries:
            if list_options.admits(stored):
                shown = serialization.to_wire(kind, clone(stored), route.version)
                self._delete_one(call, kind, self._shown(kind, stored), options)
                items.append(serialization.list_item(kind, shown))
        # The registry answers with the list it deleted from, as listed before deleting.
        body = serialization.list_body(
            kind,
            route.version,
            items,
            resource_version=listed_at,
            continue_token=None,
            remaining=None,
        )
        return self._respond(call, 200, body, kind=kind)

    def _delete_one(
        self, call: Call, kind: ResourceKind, current: JsonObject, options: _DeleteOptions
    ) -> tuple[int, JsonObject]:
        """Delete (or start deleting) one object; the status and body to answer with."""
        meta = current["metadata"]
        name = meta["name"]
        if options.uid is not None and options.uid != meta.get("uid"):
            raise precondition_failed(
                kind,
                name,
                f"UID in precondition: {options.uid}, UID in object meta: {meta.get('uid')}",
            )
        if options.resource_version is not None and options.resource_version != meta.get(
            "resourceVersion"
        ):
            raise precondition_failed(
                kind,
                name,
                f"ResourceVersion in precondition: {options.resource_version}, ResourceVersion in"
                f" object meta: {meta.get('resourceVersion')}",
            )
        if options.dry_run:
            call.audit.dry_run = True
            return 200, serialization.success_status(kind, name, str(meta.get("uid", "")))
        version = call.target.version
        if kind is NAMESPACES:
            return self._delete_namespace(call, current)
        if kind is PODS:
            grace = self._pod_grace(current, options)
            if grace > 0:
                return 200, self._mark_deleting(call, kind, current, grace=grace, finalizer=None)
            meta["deletionTimestamp"] = _timestamp()
            meta["deletionGracePeriodSeconds"] = 0
        finalizer = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(
            options.propagation or ""
        )
        if finalizer is not None or meta.get("finalizers"):
            return 200, self._mark_deleting(call, kind, current, grace=0, finalizer=finalizer)
        return 200, self._remove(call, kind, current, version)

    def _pod_grace(self, pod: JsonObject, options: _DeleteOptions) -> int:
        if not (pod.get("spec") or {}).get("nodeName"):
            return 0
        if options.grace is not None:
            return options.grace
        configured = (pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return int(configured) if configured is not None else 30

    def _mark_deleting(
        self,
        call: Call,
        kind: ResourceKind,
        current: JsonObject,
        *,
        grace: int,
        finalizer: str | None,
    ) -> JsonObject:
        """Set deletionTimestamp (and a propagation finalizer); the object stays for now."""
        obj = dict(current)
        meta = dict(current["metadata"])
        obj["metadata"] = meta
        pending = meta.get("deletionGracePeriodSeconds")
        if meta.get("deletionTimestamp") is None or (pending is not None and grace < pending):
            meta["deletionTimestamp"] = _timestamp(grace)
            meta["deletionGracePeriodSeconds"] = grace
        if finalizer is not None and finalizer not in (meta.get("finalizers") or []):
            meta["finalizers"] = [*(meta.get("finalizers") or []), finalizer]
        stored = self._write(kind, serialization.to_storage(kind, obj), dry_run=False)
        call.audit.applied = True
        call.audit.resource_version = int(stored["metadata"].get("resourceVersion") or 0)
        return serialization.to_wire(kind, stored, call.target.version)

    def _remove(
        self, call: Call, kind: ResourceKind, current: JsonObject, version: str
    ) -> JsonObject:
        meta = current["metadata"]
        self._store.delete(
            serialization.storage_kind(kind), meta.get("namespace", ""), meta["name"]
        )
        call.audit.applied = True
        call.audit.resource_version = self._store.resource_version
        if kind is SERVICES:
            self._ips.release_service(current)
        if kind.key not in _DELETE_RETURNS_OBJECT:
            return serialization.success_status(kind, meta["name"], str(meta.get("uid", "")))
        gone_obj = dict(current)
        gone_obj["metadata"] = {**meta, "resourceVersion": str(self._store.resource_version)}
        return serialization.to_wire(kind, serialization.to_storage(kind, gone_obj), version)

    def _delete_namespace(self, call: Call, current: JsonObject) -> tuple[int, JsonObject]:
        meta = current["metadata"]
        finalizers = (current.get("spec") or {}).get("finalizers") or []
        if meta.get("deletionTimestamp") is None:
            obj = dict(current)
            obj["metadata"] = {**meta, "deletionTimestamp": _timestamp()}
            obj["status"] = {**(current.get("status") or {}), "phase": "Terminating"}
            if finalizers or meta.get("finalizers"):
                stored = self._write(
                    NAMESPACES, serialization.to_storage(NAMESPACES, obj), dry_run=False
                )
                call.audit.applied = True
                call.audit.resource_version = int(stored["metadata"]["resourceVersion"])
                return 200, serialization.to_wire(NAMESPACES, stored, call.target.version)
            return 200, self._remove(call, NAMESPACES, obj, call.target.version)
        if finalizers:
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on namespaces "{meta["name"]}":'
                f" {_NAMESPACE_FINALIZING}",
                details={"name": meta["name"], "kind": "namespaces"},
            )
        return 200, self._remove(call, NAMESPACES, current, call.target.version)
