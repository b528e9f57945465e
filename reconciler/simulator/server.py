"""The simulated API server's HTTP face: routing, auth, negotiation and the verbs.

Real clients (kubernetes-asyncio, kubectl) talk to this over HTTP, so every
status code, header and body shape they can observe follows the recorded real
server (``shared/fidelity``): text/plain ``404 page not found`` for unknown
paths, 403 for anonymous and 401 for a bad token, 405/406/415, the option
validation 422s, DELETE answering with the object or a Success Status, the
graceful deletion of bound pods and namespaces, and so on.

The request pipeline is: resolve the path to a :class:`Route` (or a discovery
document), log it as RBAC names it, authenticate, apply injected faults, then
run the verb. Objects go through ``admission`` (defaulting, strategy,
validation) and ``patching`` (patch types, managedFields) on their way to the
:class:`~reconciler.simulator.store.Store`, and through ``serialization`` on
their way out. Every write request lands in ``store.write_log``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
import yaml
from aiohttp import web
from multidict import MultiMapping

from reconciler.simulator import admission, patching, serialization
from reconciler.simulator.admission import IpAllocator
from reconciler.simulator.discovery import (
    VERSION_INFO,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
)
from reconciler.simulator.errors import (
    ApiError,
    Cause,
    bad_request,
    conflict,
    invalid,
    not_found,
    page_not_found,
)
from reconciler.simulator.faults import Faults, RequestRecord, forbidden
from reconciler.simulator.listing import Lister, parse_list_options
from reconciler.simulator.resources import (
    CORE_EVENTS,
    EVENTS,
    LEASES,
    NAMESPACES,
    PODS,
    SERVICES,
    ResourceKind,
    find_kind,
)
from reconciler.simulator.store import JsonObject, Store, WriteRecord, now_rfc3339
from reconciler.simulator.watching import (
    WatchStream,
    parse_bool,
    parse_watch_options,
    wants_watch,
)

logger = logging.getLogger(__name__)

WRITE_VERBS: Final = frozenset({"create", "update", "patch", "delete", "deletecollection"})
ANONYMOUS: Final = "system:anonymous"

_NAME_ALPHABET: Final = "bcdfghjklmnpqrstvwxz2456789"
_NAMESPACE_SUBRESOURCES: Final = frozenset({"status", "finalize"})
_BODY_TYPES: Final = ("application/json", "application/yaml")
_ALLOW_CREATE_ON_UPDATE: Final = frozenset({CORE_EVENTS.key, EVENTS.key, LEASES.key})
_CONDITIONAL_UPDATE_ONLY: Final = frozenset({LEASES.key})
_DELETE_RETURNS_OBJECT: Final = frozenset({PODS.key, SERVICES.key, NAMESPACES.key})
_PROPAGATION_POLICIES: Final = ("Foreground", "Background", "Orphan")
_NAMESPACE_FINALIZING: Final = (
    "The system is ensuring all content is removed from this namespace.  Upon completion, this"
    " namespace will automatically be purged by the system."
)
_NOT_ACCEPTABLE: Final = (
    "406: Not Acceptable\n\nAvailable representations: application/json, application/yaml,"
    " application/vnd.kubernetes.protobuf, application/json;stream=watch,"
    " application/vnd.kubernetes.protobuf;stream=watch"
)


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


@dataclass(frozen=True, slots=True)
class Route:
    """A resource URL, resolved."""

    kind: ResourceKind
    version: str
    namespace: str | None
    """None for cluster-scoped kinds and for lists across all namespaces."""
    name: str | None
    subresource: str | None
    watch_path: bool
    """A legacy ``/watch/`` URL."""


@dataclass(frozen=True, slots=True)
class Discovery:
    document: str
    """``api``, ``apis``, ``group``, ``resources`` or ``version``."""
    group: str = ""
    version: str = ""


@dataclass(slots=True)
class _Audit:
    """What a write request did, filled in as it goes; becomes a ``WriteRecord``."""

    field_manager: str = ""
    dry_run: bool = False
    applied: bool = False
    resource_version: int = 0
    name: str = ""
    body: Any = None


@dataclass(slots=True)
class _Call:
    request: web.Request
    record: RequestRecord
    route: Route | None
    output: str = "json"
    """``json``, ``yaml`` or ``table``."""
    pretty: bool = False
    audit: _Audit = field(default_factory=_Audit)

    @property
    def query(self) -> MultiMapping[str]:
        return self.request.query

    @property
    def target(self) -> Route:
        assert self.route is not None
        return self.route


@dataclass(frozen=True, slots=True)
class _WriteOptions:
    dry_run: bool
    field_validation: str
    manager: str


@dataclass(frozen=True, slots=True)
class _DeleteOptions:
    propagation: str | None
    grace: int | None
    uid: str | None
    resource_version: str | None
    dry_run: bool


# -- routing ---------------------------------------------------------------------------------------


def resolve(path: str) -> Route | Discovery:
    """Map a URL path to what it names, or raise the plain-text 404."""
    parts = [part for part in path.split("/") if part]
    if parts == ["version"]:
        return Discovery("version")
    if not parts or parts[0] not in ("api", "apis"):
        raise page_not_found()
    if len(parts) == 1:
        return Discovery(parts[0])
    if parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) == 2:
        return Discovery("group", group=parts[1])
    else:
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return Discovery("resources", group=group, version=version)
    return _resource_route(group, version, rest)


def _resource_route(group: str, version: str, rest: list[str]) -> Route:
    watch_path = rest[0] == "watch"
    if watch_path:
        rest = rest[1:]
    namespace: str | None = None
    if len(rest) > 2 and rest[0] == "namespaces" and rest[2] not in _NAMESPACE_SUBRESOURCES:
        namespace, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        raise page_not_found()
    kind = find_kind(group, version, rest[0])
    if kind is None:
        raise page_not_found()
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if (
        (namespace is not None and not kind.namespaced)
        or (namespace is None and kind.namespaced and name is not None)
        or (subresource is not None and (subresource not in kind.subresources or watch_path))
    ):
        raise page_not_found()
    return Route(kind, version, namespace, name, subresource, watch_path)


def rbac_verb(method: str, route: Route, query: Mapping[str, str]) -> str:
    """The verb an RBAC rule must grant for this request."""
    collection = route.name is None
    if method == "GET":
        if route.watch_path or (collection and wants_watch(query)):
            return "watch"
        return "list" if collection else "get"
    if method == "DELETE":
        return "deletecollection" if collection else "delete"
    return {"POST": "create", "PUT": "update", "PATCH": "patch"}.get(method, method.lower())


def negotiate(accept: str) -> str:
    """``json``, ``yaml`` or ``table`` for an Accept header, or 406."""
    if not accept.strip():
        return "json"
    for clause in accept.split(","):
        media, *raw_params = (piece.strip() for piece in clause.split(";"))
        params = dict(p.split("=", 1) for p in raw_params if "=" in p)
        params.pop("q", None)
        media = media.lower()
        if params.get("as") == "Table" and media == "application/json":
            return "table"
        if "as" in params:
            continue
        if media in ("application/json", "*/*", "application/*"):
            return "json"
        if media == "application/yaml":
            return "yaml"
    raise ApiError(406, "NotAcceptable", _NOT_ACCEPTABLE, details={})


def _internal_error(error: Exception) -> ApiError:
    return ApiError(
        500,
        "InternalError",
        f"Internal error occurred: {error}",
        details={"causes": [{"message": str(error)}]},
    )


def _method_not_allowed() -> ApiError:
    return ApiError(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
        details={},
    )


def _options_invalid(options_kind: str, field_name: str, message: str, reason: str) -> ApiError:
    return ApiError(
        422,
        "Invalid",
        f'{options_kind}.meta.k8s.io "" is invalid: {field_name}: {message}',
        details={"group": "meta.k8s.io", "kind": options_kind},
        causes=[Cause(reason, message, field_name)],
    )


def _resource_details(kind: ResourceKind, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if kind.group:
        details["group"] = kind.group
    details["kind"] = kind.plural
    return details


def _precondition_failed(kind: ResourceKind, name: str, detail: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {kind.qualified_resource} "{name}": Precondition'
        f" failed: {detail}",
        details=_resource_details(kind, name),
    )


def _metadata(obj: JsonObject) -> JsonObject:
    meta = obj.get("metadata")
    if meta is None:
        meta = obj["metadata"] = {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return meta


def _timestamp(seconds_from_now: float = 0.0) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds_from_now)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _summarize(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return text if len(text) <= 30 else text[:30] + " ..."


def _json_problem(error: orjson.JSONDecodeError, data: bytes) -> str:
    if error.pos >= len(data.rstrip()):
        return "unexpected end of JSON input"
    return f"invalid character {chr(data[error.pos])!r} looking for beginning of value"


# -- the server ------------------------------------------------------------------------------------


class ApiServer:
    """Handles every request of one simulated API server."""

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

    def application(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    # -- pipeline --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            target: Route | Discovery | ApiError = resolve(request.path)
        except ApiError as error:
            target = error
        route = target if isinstance(target, Route) else None
        record = self._record(request, route)
        self._requests.append(record)
        call = _Call(request, record, route)
        response: web.StreamResponse
        try:
            self._authenticate(request, record, anonymous_ok=not isinstance(target, Route))
            await self._faults.before(record)
            if isinstance(target, ApiError):
                raise target
            call.output = negotiate(request.headers.get("Accept", ""))
            call.pretty = "pretty" in request.query and parse_bool(request.query["pretty"])
            if isinstance(target, Discovery):
                response = self._discovery(call, target)
            else:
                response = await self._dispatch(call)
        except ApiError as error:
            response = self._error_response(error)
        except Exception as error:  # a simulator bug must still look like an API server's 500
            logger.exception("simulator failed on %s %s", request.method, request.path_qs)
            response = self._error_response(_internal_error(error))
        if record.verb in WRITE_VERBS and route is not None:
            self._log_write(call, response.status)
        return response

    def _record(self, request: web.Request, route: Route | None) -> RequestRecord:
        user_agent = request.headers.get("User-Agent", "")
        if route is None:
            return RequestRecord(
                request.method.lower(), "", "", "", "", "", user_agent, request.path
            )
        namespace = route.namespace or ""
        if route.kind is NAMESPACES and route.name is not None:
            namespace = route.name
        return RequestRecord(
            verb=rbac_verb(request.method, route, request.query),
            group=route.kind.group,
            resource=route.kind.plural,
            subresource=route.subresource or "",
            namespace=namespace,
            name=route.name or "",
            user_agent=user_agent,
            path=request.path,
        )

    def _authenticate(
        self, request: web.Request, record: RequestRecord, *, anonymous_ok: bool
    ) -> None:
        header = request.headers.get("Authorization")
        if header is None:
            if anonymous_ok or self._settings.anonymous_is_admin:
                return
            raise forbidden(record, user=ANONYMOUS)
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self._token:
            raise ApiError(401, "Unauthorized", "Unauthorized")

    def _log_write(self, call: _Call, code: int) -> None:
        route = call.target
        resource = route.kind.key + (f"/{route.subresource}" if route.subresource else "")
        audit = call.audit
        self._store.write_log.append(
            WriteRecord(
                verb=call.record.verb,
                resource=resource,
                namespace=route.namespace or "",
                name=audit.name or route.name or "",
                code=code,
                user_agent=call.record.user_agent,
                field_manager=audit.field_manager,
                content_type=call.request.content_type,
                dry_run=audit.dry_run,
                applied=audit.applied and code < 300,
                resource_version=audit.resource_version,
                body=audit.body,
            )
        )

    async def _dispatch(self, call: _Call) -> web.StreamResponse:
        route = call.target
        verb = call.record.verb
        handlers: dict[str, Callable[[_Call], Awaitable[web.StreamResponse]]] = {
            "get": self._get,
            "list": self._list,
            "watch": self._watch,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
            "deletecollection": self._delete_collection,
        }
        handler = handlers.get(verb)
        if handler is None or not self._allowed(route, verb):
            raise _method_not_allowed()
        return await handler(call)

    @staticmethod
    def _allowed(route: Route, verb: str) -> bool:
        if verb in ("get", "update", "patch", "delete") and route.name is None:
            return False
        if route.subresource == "finalize":
            return verb == "update"
        if route.subresource is not None:
            return verb in ("get", "update", "patch")
        if verb == "create":
            return route.name is None and (route.namespace is not None or not route.kind.namespaced)
        if verb == "deletecollection":
            return route.namespace is not None or not route.kind.namespaced
        return verb in route.kind.verbs

    # -- responses -------------------------------------------------------------------------------

    def _respond(
        self,
        call: _Call,
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

    @staticmethod
    def _error_response(error: ApiError) -> web.Response:
        if error.plain_text is not None:
            response = web.Response(
                status=error.code, text=error.plain_text, content_type="text/plain"
            )
        else:
            response = web.Response(
                status=error.code,
                body=serialization.encode(error.status_body()),
                content_type="application/json",
            )
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    def _discovery(self, call: _Call, target: Discovery) -> web.Response:
        body: JsonObject | None
        if target.document == "version":
            body = dict(VERSION_INFO)
        elif target.document == "api":
            body = api_versions(self.server_address)
        elif target.document == "apis":
            body = api_group_list()
        elif target.document == "group":
            body = api_group(target.group)
        else:
            body = api_resource_list(target.group, target.version)
        if body is None:
            raise page_not_found()
        return self._respond(call, 200, body)

    # -- reads -----------------------------------------------------------------------------------

    def _stored(self, route: Route, name: str) -> JsonObject | None:
        kind = serialization.storage_kind(route.kind)
        return self._store.get(kind, route.namespace or "", name)

    def _shown(self, kind: ResourceKind, stored: JsonObject) -> JsonObject:
        """A stored object in ``kind``'s own shape, as admission and patches see it."""
        return serialization.to_wire(kind, stored, kind.storage_version)

    async def _get(self, call: _Call) -> web.StreamResponse:
        route = call.target
        assert route.name is not None
        stored = self._stored(route, route.name)
        if stored is None:
            raise not_found(route.kind, route.name)
        wire = serialization.to_wire(route.kind, stored, route.version)
        if call.output == "table":
            rv = int(wire.get("metadata", {}).get("resourceVersion") or 0)
            return self._respond(
                call, 200, serialization.table_body(route.kind, [wire], resource_version=rv)
            )
        return self._respond(call, 200, wire, kind=route.kind)

    async def _list(self, call: _Call) -> web.StreamResponse:
        route = call.target
        kind = route.kind
        options = parse_list_options(call.query, kind)
        page = await self._lister.page(serialization.storage_kind(kind), route.namespace, options)
        wires = [serialization.to_wire(kind, obj, route.version) for obj in page.items]
        if call.output == "table":
            body = serialization.table_body(
                kind,
                wires,
                resource_version=page.resource_version,
                continue_token=page.continue_token,
            )
            return self._respond(call, 200, body)
        body = serialization.list_body(
            kind,
            route.version,
            [serialization.list_item(kind, wire) for wire in wires],
            resource_version=page.resource_version,
            continue_token=page.continue_token,
            remaining=page.remaining,
        )
        return self._respond(call, 200, body, kind=kind)

    async def _watch(self, call: _Call) -> web.StreamResponse:
        route = call.target
        options = parse_watch_options(call.query, route.kind, pinned_name=route.name)
        stream = WatchStream(
            store=self._store,
            lister=self._lister,
            kind=route.kind,
            version=route.version,
            namespace=route.namespace,
            options=options,
            bookmark_interval=self._settings.bookmark_interval,
            drop_after=self._faults.watch_drop_after(call.record),
            expire=self._faults.take_expiry(route.kind.plural),
        )
        await self._track_watch(stream, open_now=True)
        try:
            return await stream.serve(call.request)
        finally:
            await self._track_watch(stream, open_now=False)

    async def _track_watch(self, stream: WatchStream, *, open_now: bool) -> None:
        async with self._watches_changed:
            if open_now:
                self.watches.add(stream)
            else:
                self.watches.discard(stream)
            self._watches_changed.notify_all()

    async def wait_for_watches(self, count: int) -> None:
        """Wait until exactly ``count`` watch streams are open."""
        async with self._watches_changed:
            await self._watches_changed.wait_for(lambda: len(self.watches) == count)

    # -- write options and bodies ----------------------------------------------------------------

    def _write_options(self, call: _Call, options_kind: str) -> _WriteOptions:
        query = call.query
        dry_run_values = query.getall("dryRun", [])
        if any(value != "All" for value in dry_run_values):
            shown = ", ".join(f'"{value}"' for value in dry_run_values)
            raise _options_invalid(
                options_kind,
                "dryRun",
                f'Unsupported value: []string{{{shown}}}: supported values: "All"',
                "FieldValueNotSupported",
            )
        validation = query.get("fieldValidation", "") or "Warn"
        if validation not in ("Ignore", "Warn", "Strict"):
            raise _options_invalid(
                options_kind,
                "fieldValidation",
                f'Unsupported value: "{validation}": supported values: "Ignore", "Strict", "Warn"',
                "FieldValueNotSupported",
            )
        manager = query.get("fieldManager") or call.record.user_agent.split("/", 1)[0][:128]
        options = _WriteOptions(bool(dry_run_values), validation, manager)
        call.audit.dry_run = options.dry_run
        call.audit.field_manager = manager
        return options

    async def _read_object(self, call: _Call, kind: ResourceKind) -> JsonObject:
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
                decoded = orjson.loads(data)
        except orjson.JSONDecodeError as error:
            problem = _json_problem(error, data)
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
        if sent_kind and sent_kind != kind.kind:
            raise bad_request(
                f"the kind in the data ({sent_kind}) does not match the expected kind ({kind.kind})"
            )
        obj["apiVersion"] = expected_version
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

    # -- create ----------------------------------------------------------------------------------

    async def _create(self, call: _Call) -> web.StreamResponse:
        kind = call.target.kind
        options = self._write_options(call, "CreateOptions")
        obj = await self._read_object(call, kind)
        stored, warnings = self._create_object(call, obj, options, track=True)
        wire = serialization.to_wire(kind, stored, call.target.version)
        return self._respond(call, 201, wire, kind=kind, warnings=warnings)

    def _create_object(
        self, call: _Call, obj: JsonObject, options: _WriteOptions, *, track: bool
    ) -> tuple[JsonObject, list[str]]:
        """Create ``obj`` as the registry does: namespace checks, names, admission, storage."""
        route = call.target
        kind = route.kind
        meta = _metadata(obj)
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
        if track:
            patching.track_managed_fields(
                kind=kind,
                old=None,
                new=obj,
                manager=options.manager,
                operation="Update",
                api_version=kind.api_version(route.version),
                subresource=None,
            )
        warnings = admission.admit(
            kind=kind,
            new=obj,
            old=None,
            operation="CREATE",
            subresource=None,
            field_validation=options.field_validation,
            ips=self._ips,
            istio_webhook=self._settings.istio_webhook,
            dry_run=options.dry_run,
        )
        stored = self._store.create(
            serialization.storage_kind(kind),
            serialization.to_storage(kind, obj),
            dry_run=options.dry_run,
        )
        self._applied(call, stored, options)
        return stored, warnings

    def _applied(self, call: _Call, stored: JsonObject, options: _WriteOptions) -> None:
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
                details=_resource_details(kind, name),
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

    # -- update ----------------------------------------------------------------------------------

    async def _update(self, call: _Call) -> web.StreamResponse:
        route = call.target
        kind = route.kind
        assert route.name is not None
        options = self._write_options(call, "UpdateOptions")
        obj = await self._read_object(call, kind)
        meta = _metadata(obj)
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
                    details=_resource_details(kind, name),
                    causes=[Cause("FieldValueInvalid", message, "metadata.resourceVersion")],
                )
            return
        if str(sent) != current["metadata"].get("resourceVersion"):
            raise conflict(kind, name)

    def _store_update(
        self,
        call: _Call,
        obj: JsonObject,
        current: JsonObject,
        options: _WriteOptions,
        *,
        track: bool,
    ) -> web.Response:
        """Admit and store an update of ``current`` to ``obj``; answer 200."""
        route = call.target
        kind = route.kind
        meta = _metadata(obj)
        _carry_system_metadata(meta, current["metadata"], kind)
        subresource = route.subresource
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
        warnings = admission.admit(
            kind=kind,
            new=obj,
            old=current,
            operation="UPDATE",
            subresource=subresource,
            field_validation=options.field_validation,
            ips=self._ips,
            istio_webhook=self._settings.istio_webhook,
            dry_run=options.dry_run,
        )
        stored = self._write(kind, serialization.to_storage(kind, obj), dry_run=options.dry_run)
        self._applied(call, stored, options)
        wire = serialization.to_wire(kind, stored, route.version)
        return self._respond(call, 200, wire, kind=kind, warnings=warnings)

    def _write(self, kind: ResourceKind, obj: JsonObject, *, dry_run: bool) -> JsonObject:
        return self._store.update(serialization.storage_kind(kind), obj, dry_run=dry_run)

    # -- patch -----------------------------------------------------------------------------------

    def _patch_types(self, kind: ResourceKind) -> tuple[str, ...]:
        if kind.builtin:
            return (
                patching.JSON_PATCH,
                patching.MERGE_PATCH,
                patching.STRATEGIC_MERGE_PATCH,
                patching.APPLY_PATCH,
            )
        return (patching.JSON_PATCH, patching.MERGE_PATCH, patching.APPLY_PATCH)

    async def _patch(self, call: _Call) -> web.StreamResponse:
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
            raise _options_invalid(
                "PatchOptions",
                "fieldManager",
                "Required value: is required for apply patch",
                "FieldValueRequired",
            )
        force = "force" in call.query and parse_bool(call.query["force"])
        if force and not is_apply:
            raise _options_invalid(
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
            meta = _metadata(patched)
            meta["name"] = route.name
            created, warnings = self._create_object(call, patched, options, track=False)
            wire = serialization.to_wire(kind, created, route.version)
            return self._respond(call, 201, wire, kind=kind, warnings=warnings)
        meta = _metadata(patched)
        sent_rv = meta.get("resourceVersion")
        if sent_rv and str(sent_rv) != current["metadata"].get("resourceVersion"):
            raise conflict(kind, route.name)
        meta["name"] = route.name
        self._place(route, meta)
        return self._store_update(call, patched, current, options, track=not is_apply)

    # -- delete ----------------------------------------------------------------------------------

    async def _delete_options(self, call: _Call) -> _DeleteOptions:
        merged: dict[str, Any] = {}
        for name in ("propagationPolicy", "gracePeriodSeconds", "orphanDependents"):
            if name in call.query:
                merged[name] = call.query[name]
        data = await call.request.read()
        if data.strip():
            try:
                body = orjson.loads(data)
            except orjson.JSONDecodeError as error:
                raise bad_request(f"json parse error: {_json_problem(error, data)}") from error
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
            raise _options_invalid(
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

    async def _delete(self, call: _Call) -> web.StreamResponse:
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

    async def _delete_collection(self, call: _Call) -> web.StreamResponse:
        route = call.target
        kind = route.kind
        list_options = parse_list_options(call.query, kind)
        options = await self._delete_options(call)
        entries = self._lister.current(serialization.storage_kind(kind), route.namespace)
        items: list[JsonObject] = []
        for _, stored in entries:
            if list_options.admits(stored):
                _, body = self._delete_one(call, kind, self._shown(kind, stored), options)
                if body.get("kind") != "Status":
                    items.append(serialization.list_item(kind, body))
        body = serialization.list_body(
            kind,
            route.version,
            items,
            resource_version=self._store.resource_version,
            continue_token=None,
            remaining=None,
        )
        return self._respond(call, 200, body, kind=kind)

    def _delete_one(
        self, call: _Call, kind: ResourceKind, current: JsonObject, options: _DeleteOptions
    ) -> tuple[int, JsonObject]:
        """Delete (or start deleting) one object; the status and body to answer with."""
        meta = current["metadata"]
        name = meta["name"]
        if options.uid is not None and options.uid != meta.get("uid"):
            raise _precondition_failed(
                kind,
                name,
                f"UID in precondition: {options.uid}, UID in object meta: {meta.get('uid')}",
            )
        if options.resource_version is not None and options.resource_version != meta.get(
            "resourceVersion"
        ):
            raise _precondition_failed(
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
        call: _Call,
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
        self, call: _Call, kind: ResourceKind, current: JsonObject, version: str
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

    def _delete_namespace(self, call: _Call, current: JsonObject) -> tuple[int, JsonObject]:
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


def _carry_system_metadata(meta: JsonObject, current: JsonObject, kind: ResourceKind) -> None:
    """An update names the stored object; admission restores the other system fields."""
    if meta.get("uid") and meta["uid"] != current.get("uid"):
        raise _precondition_failed(
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


async def stop_watches(server: ApiServer, *, abort: bool, patience: float = 5.0) -> None:
    """End every open watch (cleanly, or by dropping its connection) and wait for them."""
    streams = list(server.watches)
    for stream in streams:
        stream.stop(abort=abort)
    if not streams:
        return
    waiters = [asyncio.ensure_future(stream.finished.wait()) for stream in streams]
    _, pending = await asyncio.wait(waiters, timeout=patience)
    for waiter in pending:
        waiter.cancel()
