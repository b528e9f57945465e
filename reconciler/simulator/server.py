"""The simulated API server's HTTP face: the request pipeline, auth, and the verbs combined.

Real clients (kubernetes-asyncio, kubectl) talk to this over HTTP, so every
status code, header and body shape they can observe follows the recorded real
server (``shared/fidelity``): text/plain ``404 page not found`` for unknown
paths, 403 for anonymous and 401 for a bad token, 405/406/415, the option
validation 422s, DELETE answering with the object or a Success Status, the
graceful deletion of bound pods and namespaces, and so on.

The request pipeline is: resolve the path to a :class:`~routing.Route` (or a
discovery document), log it as RBAC names it, authenticate, apply injected
faults, then run the verb: ``reads``, ``writes`` and ``deletes`` hold them.
Objects go through ``admission`` (defaulting, strategy, validation) and
``patching`` (patch types, managedFields) on their way to the
:class:`~reconciler.simulator.store.Store`, and through ``serialization`` on
their way out. Every write request lands in ``store.write_log``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web

from reconciler.simulator import serialization
from reconciler.simulator.deletes import Deletes
from reconciler.simulator.discovery import (
    VERSION_INFO,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
)
from reconciler.simulator.errors import ApiError, page_not_found
from reconciler.simulator.faults import RequestRecord, forbidden
from reconciler.simulator.reads import Reads
from reconciler.simulator.resources import NAMESPACES
from reconciler.simulator.routing import Discovery, Route, negotiate, rbac_verb, resolve
from reconciler.simulator.store import JsonObject, WriteRecord
from reconciler.simulator.verbs import Call
from reconciler.simulator.watching import parse_bool
from reconciler.simulator.writes import Writes

logger = logging.getLogger(__name__)

WRITE_VERBS: Final = frozenset({"create", "update", "patch", "delete", "deletecollection"})
ANONYMOUS: Final = "system:anonymous"


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


class ApiServer(Reads, Writes, Deletes):
    """Handles every request of one simulated API server."""

    def application(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            target: Route | Discovery | ApiError = resolve(request.path)
        except ApiError as error:
            target = error
        route = target if isinstance(target, Route) else None
        record = self._record(request, route)
        self._requests.append(record)
        call = Call(request, record, route)
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

    def _log_write(self, call: Call, code: int) -> None:
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

    async def _dispatch(self, call: Call) -> web.StreamResponse:
        route = call.target
        verb = call.record.verb
        handlers: dict[str, Callable[[Call], Awaitable[web.StreamResponse]]] = {
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

    def _discovery(self, call: Call, target: Discovery) -> web.Response:
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
