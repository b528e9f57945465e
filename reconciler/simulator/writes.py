"""POST, PUT and PATCH: decoding the body, naming, admission and storage.

A create checks the namespace (missing: 404 for the namespace; terminating:
403 with a ``NamespaceTerminating`` cause), fills the name from
``generateName``, records field ownership and goes through admission. An
update checks the resourceVersion precondition (PUT without one is allowed for
built-in kinds except Lease, refused with 422 for Leases and custom resources)
and may create (Events, Leases). A patch accepts the content types the kind
allows (no strategic merge patch for custom resources: 415), treats a
``metadata.resourceVersion`` inside it as a precondition, and with server-side
apply may create.
"""

from __future__ import annotations

import random
from typing import Any, Final

import orjson
import yaml
from aiohttp import web

from reconciler.simulator import admission, patching, serialization
from reconciler.simulator.errors import ApiError, Cause, bad_request, conflict, invalid, not_found
from reconciler.simulator.resources import CORE_EVENTS, EVENTS, LEASES, NAMESPACES, ResourceKind
from reconciler.simulator.routing import Route
from reconciler.simulator.store import JsonObject, now_rfc3339
from reconciler.simulator.verbs import (
    Call,
    Verbs,
    WriteOptions,
    json_problem,
    metadata_of,
    options_invalid,
    precondition_failed,
    resource_details,
)
from reconciler.simulator.watching import parse_bool

_NAME_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_BODY_TYPES: Final = ("application/json", "application/yaml")
_ALLOW_CREATE_ON_UPDATE: Final = frozenset({CORE_EVENTS.key, EVENTS.key, LEASES.key})
_CONDITIONAL_UPDATE_ONLY: Final = frozenset({LEASES.key})


def _summarize(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= 30 else text[:30] + " ..."


class Writes(Verbs):
    """POST, PUT and PATCH."""

    async def _read_object(self, call: Call, kind: ResourceKind) -> JsonObject:
        content_type = call.request.content_type if call.request.body_exists else "application/json"
        data = await call.request.read()
        if content_type not in _BODY_TYPES:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include:"
                " application/json, application/yaml, application/vnd.kubernetes.protobuf",
            )
        unrecognized = f"the object provided is unrecognized (must be of type {kind.kind})"
        try:
            if content_type == "application/yaml":
                decoded = yaml.safe_load(data)
            else:
                # Go's encoding/json stores invalid UTF-8 as U+FFFD rather than refusing it.
                decoded = orjson.loads(data.decode("utf-8", errors="replace"))
        except orjson.JSONDecodeError as error:
            problem = json_problem(error, data)
            raise bad_request(
                f"{unrecognized}: couldn't get version/kind; json parse error: {problem}"
                f" ({_summarize(data)})"
            ) from error
        except yaml.YAMLError as error:
            raise bad_request(
                f"{unrecognized}: couldn't get version/kind; json parse error: error converting"
                f" YAML to JSON: {error}"
            ) from error
        if not isinstance(decoded, dict):
            raise bad_request(
                f"{unrecognized}: couldn't get version/kind; json parse error: json: cannot"
                f" unmarshal {type(decoded).__name__} into Go value of type struct"
            )
        call.audit.body = decoded
        self._check_type(kind, call.target.version, decoded)
        return decoded

    @staticmethod
    def _check_type(kind: ResourceKind, version: str, obj: JsonObject) -> None:
        expected_version = kind.api_version(version)
        sent_version = obj.get("apiVersion")
        if sent_version and sent_version != expected_version:
            raise bad_request(
                f"the API version in the data ({sent_version}) does not match the expected API"
                f" version ({expected_version})"
            )
        sent_kind = obj.get("kind")
        obj["apiVersion"] = expected_version
        if not kind.builtin:
            # The CRD's own validation refuses another kind, with a 422 (admission).
            if not sent_kind:
                obj["kind"] = kind.kind
            return
        if sent_kind and sent_kind != kind.kind:
            raise bad_request(
                f"the kind in the data ({sent_kind}) does not match the expected kind ({kind.kind})"
            )
        obj["kind"] = kind.kind

    def _place(self, route: Route, meta: JsonObject) -> str:
        """Check and set the object's namespace from the URL; the namespace ('' if none)."""
        if not route.kind.namespaced:
            meta.pop("namespace", None)
            return ""
        namespace = route.namespace or ""
        sent = meta.get("namespace")
        if sent and sent != namespace:
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on the"
                " request"
            )
        meta["namespace"] = namespace
        return namespace

    async def _create(self, call: Call) -> web.StreamResponse:
        kind = call.target.kind
        options = self._write_options(call, "CreateOptions")
        obj = await self._read_object(call, kind)
        stored, warnings = self._create_object(call, obj, options, track=True)
        wire = serialization.to_wire(kind, stored, call.target.version)
        return self._respond(call, 201, wire, kind=kind, warnings=warnings)

    def _create_object(
        self, call: Call, obj: JsonObject, options: WriteOptions, *, track: bool
    ) -> tuple[JsonObject, list[str]]:
        """Create ``obj`` as the registry does: namespace checks, names, admission, storage."""
        route = call.target
        kind = route.kind
        meta = metadata_of(obj)
        namespace = self._place(route, meta)
        if kind.namespaced:
            self._require_active_namespace(kind, namespace, str(meta.get("name") or ""))
        self._name(kind, meta)
        call.audit.name = meta["name"]
        for system_field in (
            "resourceVersion",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        ):
            meta.pop(system_field, None)
        meta["uid"] = self._store.uid_factory()
        meta["creationTimestamp"] = now_rfc3339()
        warnings = self._admit(call, obj, None, options, track=track)
        stored = self._store.create(
            serialization.storage_kind(kind),
            serialization.to_storage(kind, obj),
            dry_run=options.dry_run,
        )
        self._applied(call, stored, options)
        return stored, warnings

    def _admit(
        self,
        call: Call,
        obj: JsonObject,
        current: JsonObject | None,
        options: WriteOptions,
        *,
        track: bool,
    ) -> list[str]:
        """Record field ownership (before admission, as the real server does), then admit.

        ``current`` is None for a create. Returns the Warning texts.
        """
        route = call.target
        kind = route.kind
        subresource = route.subresource if current is not None else None
        if track:
            patching.track_managed_fields(
                kind=kind,
                old=current,
                new=obj,
                manager=options.manager,
                operation="Update",
                api_version=kind.api_version(route.version),
                subresource=subresource,
            )
        return admission.admit(
            kind=kind,
            new=obj,
            old=current,
            operation="CREATE" if current is None else "UPDATE",
            subresource=subresource,
            field_validation=options.field_validation,
            ips=self._ips,
            istio_webhook=self._settings.istio_webhook,
            dry_run=options.dry_run,
        )

    def _applied(self, call: Call, stored: JsonObject, options: WriteOptions) -> None:
        call.audit.applied = not options.dry_run
        call.audit.resource_version = int(stored["metadata"].get("resourceVersion") or 0)

    def _require_active_namespace(self, kind: ResourceKind, namespace: str, name: str) -> None:
        found = self._store.get(NAMESPACES, "", namespace)
        if found is None:
            raise ApiError(
                404,
                "NotFound",
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces"},
            )
        if found["metadata"].get("deletionTimestamp") or (
            (found.get("status") or {}).get("phase") == "Terminating"
        ):
            message = f"namespace {namespace} is being terminated"
            raise ApiError(
                403,
                "Forbidden",
                f'{kind.qualified_resource} "{name}" is forbidden: unable to create new content in'
                f" namespace {namespace} because it is being terminated",
                details=resource_details(kind, name),
                causes=[Cause("NamespaceTerminating", message, "metadata.namespace")],
            )

    @staticmethod
    def _name(kind: ResourceKind, meta: JsonObject) -> None:
        if meta.get("name"):
            return
        prefix = meta.get("generateName")
        if not prefix:
            raise invalid(
                kind,
                "",
                [
                    Cause(
                        "FieldValueRequired",
                        "Required value: name or generateName is required",
                        "metadata.name",
                    )
                ],
            )
        meta["name"] = str(prefix) + "".join(random.choices(_NAME_ALPHABET, k=5))

    async def _update(self, call: Call) -> web.StreamResponse:
        route = call.target
        kind = route.kind
        assert route.name is not None
        options = self._write_options(call, "UpdateOptions")
        obj = await self._read_object(call, kind)
        meta = metadata_of(obj)
        sent_name = meta.get("name")
        if sent_name and sent_name != route.name:
            raise bad_request(
                f"the name of the object ({sent_name}) does not match the name on the URL"
                f" ({route.name})"
            )
        meta["name"] = route.name
        call.audit.name = route.name
        self._place(route, meta)
        stored = self._stored(route, route.name)
        if stored is None:
            if kind.key in _ALLOW_CREATE_ON_UPDATE and route.subresource is None:
                created, warnings = self._create_object(call, obj, options, track=True)
                wire = serialization.to_wire(kind, created, route.version)
                return self._respond(call, 201, wire, kind=kind, warnings=warnings)
            raise not_found(kind, route.name)
        current = self._shown(kind, stored)
        self._check_resource_version(kind, route.name, meta.get("resourceVersion"), current)
        return self._store_update(call, obj, current, options, track=True)

    def _check_resource_version(
        self, kind: ResourceKind, name: str, sent: Any, current: JsonObject
    ) -> None:
        if not sent:
            if kind.key in _CONDITIONAL_UPDATE_ONLY or not kind.builtin:
                message = "Invalid value: 0x0: must be specified for an update"
                raise ApiError(
                    422,
                    "Invalid",
                    f'{kind.qualified_resource} "{name}" is invalid: metadata.resourceVersion:'
                    f" {message}",
                    details=resource_details(kind, name),
                    causes=[Cause("FieldValueInvalid", message, "metadata.resourceVersion")],
                )
            return
        if str(sent) != current["metadata"].get("resourceVersion"):
            raise conflict(kind, name)

    def _store_update(
        self,
        call: Call,
        obj: JsonObject,
        current: JsonObject,
        options: WriteOptions,
        *,
        track: bool,
    ) -> web.Response:
        """Admit and store an update of ``current`` to ``obj``; answer 200."""
        route = call.target
        kind = route.kind
        meta = metadata_of(obj)
        _carry_system_metadata(meta, current["metadata"], kind)
        warnings = self._admit(call, obj, current, options, track=track)
        stored = self._write(kind, serialization.to_storage(kind, obj), dry_run=options.dry_run)
        self._applied(call, stored, options)
        wire = serialization.to_wire(kind, stored, route.version)
        return self._respond(call, 200, wire, kind=kind, warnings=warnings)

    def _patch_types(self, kind: ResourceKind) -> tuple[str, ...]:
        if kind.builtin:
            return (
                patching.JSON_PATCH,
                patching.MERGE_PATCH,
                patching.STRATEGIC_MERGE_PATCH,
                patching.APPLY_PATCH,
            )
        return (patching.JSON_PATCH, patching.MERGE_PATCH, patching.APPLY_PATCH)

    async def _patch(self, call: Call) -> web.StreamResponse:
        route = call.target
        kind = route.kind
        assert route.name is not None
        call.audit.name = route.name
        content_type = call.request.content_type
        accepted = self._patch_types(kind)
        if content_type not in accepted:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include:"
                " " + ", ".join(accepted),
            )
        is_apply = content_type == patching.APPLY_PATCH
        if is_apply and not call.query.get("fieldManager"):
            raise options_invalid(
                "PatchOptions",
                "fieldManager",
                "Required value: is required for apply patch",
                "FieldValueRequired",
            )
        force = "force" in call.query and parse_bool(call.query["force"])
        if force and not is_apply:
            raise options_invalid(
                "PatchOptions",
                "force",
                "Forbidden: may not be specified for non-apply patch",
                "FieldValueForbidden",
            )
        options = self._write_options(call, "PatchOptions")
        data = await call.request.read()
        call.audit.body = _decoded_patch(data)
        stored = self._stored(route, route.name)
        if stored is None and not is_apply:
            raise not_found(kind, route.name)
        current = self._shown(kind, stored) if stored is not None else None
        patched = patching.apply_patch(
            kind=kind,
            current=current,
            patch=data,
            content_type=content_type,
            field_manager=options.manager,
            force=force,
            subresource=route.subresource,
        )
        if current is None:
            meta = metadata_of(patched)
            meta["name"] = route.name
            created, warnings = self._create_object(call, patched, options, track=False)
            wire = serialization.to_wire(kind, created, route.version)
            return self._respond(call, 201, wire, kind=kind, warnings=warnings)
        meta = metadata_of(patched)
        sent_rv = meta.get("resourceVersion")
        if sent_rv and str(sent_rv) != current["metadata"].get("resourceVersion"):
            raise conflict(kind, route.name)
        meta["name"] = route.name
        self._place(route, meta)
        return self._store_update(call, patched, current, options, track=not is_apply)


def _carry_system_metadata(meta: JsonObject, current: JsonObject, kind: ResourceKind) -> None:
    """An update names the stored object; admission restores the other system fields."""
    if meta.get("uid") and meta["uid"] != current.get("uid"):
        raise precondition_failed(
            kind,
            str(current.get("name")),
            f"UID in precondition: {meta['uid']}, UID in object meta: {current.get('uid')}",
        )
    meta.pop("selfLink", None)
    meta["resourceVersion"] = current.get("resourceVersion")


def _decoded_patch(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return data.decode("utf-8", errors="replace")
