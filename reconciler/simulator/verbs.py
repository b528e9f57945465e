"""What every verb of the simulated API server shares: its state, a request, the answer.

The verbs are split by concern (``reads``, ``writes``, ``deletes``), each a
mixin of :class:`Verbs`, which holds what they all need: the store, the
ClusterIP allocator, the settings, the lister, the open watches, and the
helpers for the options every write takes (``dryRun``, ``fieldValidation``,
``fieldManager``), the Status errors they share, and writing an answer in the
representation the client negotiated (sorted keys for custom resources,
``pretty``, one ``Warning`` line per warning).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from aiohttp import web
from multidict import MultiMapping

from reconciler.simulator import serialization
from reconciler.simulator.admission import IpAllocator
from reconciler.simulator.errors import ApiError, Cause, bad_request
from reconciler.simulator.faults import Faults, RequestRecord
from reconciler.simulator.listing import Lister
from reconciler.simulator.resources import ResourceKind
from reconciler.simulator.routing import Route
from reconciler.simulator.store import JsonObject, Store
from reconciler.simulator.watching import WatchStream


@dataclass(slots=True)
class Settings:
    """Knobs tests turn down to keep timing-dependent behaviour fast."""

    bookmark_interval: float = 60.0
    """Seconds between periodic watch bookmarks."""
    future_resource_version_wait: float = 3.0
    """How long a LIST at a future resourceVersion waits before its 504."""
    istio_webhook: bool = False
    """Also apply istiod's validating webhook (the recorded cluster had none)."""
    anonymous_is_admin: bool = False
    """Treat requests without a token as the admin user. kubectl never sends a bearer
    token over plain HTTP, so the playground needs this for kubectl to work."""


@dataclass(slots=True)
class Audit:
    """What a write request did, filled in as it goes; becomes a ``WriteRecord``."""

    field_manager: str = ""
    dry_run: bool = False
    applied: bool = False
    resource_version: int = 0
    name: str = ""
    body: Any = None


@dataclass(slots=True)
class Call:
    request: web.Request
    record: RequestRecord
    route: Route | None
    output: str = "json"
    """``json``, ``yaml`` or ``table``."""
    pretty: bool = False
    audit: Audit = field(default_factory=Audit)

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    @property
    def target(self) -> Route:
        assert self.route is not None
        return self.route


@dataclass(frozen=True, slots=True)
class WriteOptions:
    dry_run: bool
    field_validation: str
    manager: str


def options_invalid(options_kind: str, field_name: str, message: str, reason: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'{options_kind}.meta.k8s.io "" is invalid: {field_name}: {message}',
        details={"group": "meta.k8s.io", "kind": options_kind},
        causes=[Cause(reason, message, field_name)],
    )


def resource_details(kind: ResourceKind, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.plural
    return details


def precondition_failed(kind: ResourceKind, name: str, detail: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified_resource} "{name}": Precondition'
        f" failed: {detail}",
        details=resource_details(kind, name),
    )


def metadata_of(obj: JsonObject) -> JsonObject:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return meta


def json_problem(error: orjson.JSONDecodeError, data: bytes) -> str:
    if error.pos >= len(data.rstrip()):
        return "unexpected end of JSON input"
    return f"invalid character {chr(data[error.pos])!r} looking for beginning of value"


class Verbs:
    """State and helpers shared by the verb mixins; :class:`ApiServer` combines them."""

    def __init__(
        self,
        *,
        store: Store,
        ips: IpAllocator,
        faults: Faults,
        token: str,
        settings: Settings,
        requests: list[RequestRecord],
    ) -> None:
        self._store = store
        self._ips = ips
        self._faults = faults
        self._token = token
        self._settings = settings
        self._requests = requests
        self._lister = Lister(store, future_wait=lambda: settings.future_resource_version_wait)
        self.watches: set[WatchStream] = set()
        self._watches_changed = asyncio.Condition()
        self.server_address = "127.0.0.1:6443"

    def _respond(
        self,
        call: Call,
        status: int,
        body: Any,
        *,
        kind: ResourceKind | None = None,
        warnings: list[str] | None = None,
    ) -> web.Response:
        sort_keys = kind is not None and not kind.builtin
        if call.output == "yaml":
            data = yaml.safe_dump(body, sort_keys=sort_keys).encode()
            content_type = "application/yaml"
        else:
            data = serialization.encode(body, sort_keys=sort_keys, pretty=call.pretty)
            content_type = "application/json"
        response = web.Response(status=status, body=data, content_type=content_type)
        for warning in warnings or ():
            escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
            response.headers.add("Warning", f'299 - "{escaped}"')
        return response

    def _stored(self, route: Route, name: str) -> JsonObject | None:
        kind = serialization.storage_kind(route.kind)
        return self._store.get(kind, route.namespace or "", name)

    def _shown(self, kind: ResourceKind, stored: JsonObject) -> JsonObject:
        """A stored object in ``kind``'s own shape, as admission and patches see it."""
        return serialization.to_wire(kind, stored, kind.storage_version)

    def _write(self, kind: ResourceKind, obj: JsonObject, *, dry_run: bool) -> JsonObject:
        return self._store.update(serialization.storage_kind(kind), obj, dry_run=dry_run)

    def _write_options(self, call: Call, options_kind: str) -> WriteOptions:
        query = call.query
        dry_run_values = query.getall("dryRun", [])
        if any(value != "All" for value in dry_run_values):
            shown = ", ".join(f'"{value}"' for value in dry_run_values)
            raise options_invalid(
                options_kind,
                "dryRun",
                f'Unsupported value: []string{{{shown}}}: supported values: "All"',
                "FieldValueNotSupported",
            )
        validation = query.get("fieldValidation", "") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise options_invalid(
                options_kind,
                "fieldValidation",
                f'Unsupported value: "{validation}": supported values: "Ignore", "Strict", "Warn"',
                "FieldValueNotSupported",
            )
        manager = query.get("fieldManager") or call.record.user_agent.split("/", 1)[0][:128]
        options = WriteOptions(bool(dry_run_values), validation, manager)
        call.audit.dry_run = options.dry_run
        call.audit.field_manager = manager
        return options
