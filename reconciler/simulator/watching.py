"""WATCH streams, shaped like the real server's watch cache answers them.

One JSON object per line over a chunked HTTP 200 response (fidelity 05a/05b/06):

- without a resourceVersion, or with ``0``, every existing object first arrives
  as a synthetic ``ADDED``; from a resourceVersion N, the retained changes after
  N are replayed; a resourceVersion older than the retained history gets one
  ``ERROR`` event carrying a 410 Expired Status, then the stream closes; a
  future one stays silent until the timeout;
- selectors are applied the way the watch cache applies them: an object that
  stops matching is sent as ``DELETED`` (its last matching state, with the new
  resourceVersion), one that starts matching as ``ADDED``;
- with ``allowWatchBookmarks``, a ``BOOKMARK`` (the type's zero value, or only
  kind/apiVersion/metadata for custom resources) arrives 2 s and 1 s before
  ``timeoutSeconds`` and every bookmark interval; at the timeout the stream
  ends cleanly.

Replaying history and subscribing to live changes happen with no await in
between, so no change can fall in the gap.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from reconciler.simulator import serialization
from reconciler.simulator.errors import ApiError, bad_request, gone
from reconciler.simulator.listing import (
    FieldSelector,
    LabelSelector,
    Lister,
    parse_field_selector,
    parse_label_selector,
    parse_resource_version,
    scope_key,
)
from reconciler.simulator.resources import ResourceKind
from reconciler.simulator.store import JsonObject, Store, Subscription, WatchRecord

_PRE_DEADLINE_BOOKMARKS: Final = (2.0, 1.0)
"""Seconds before ``timeoutSeconds`` at which bookmarks are sent (README surprise 3)."""
_LIVENESS_TICK: Final = 1.0
"""How often an idle stream checks that its client is still connected."""


def parse_bool(value: str) -> bool:
    """Kubernetes query booleans: only ``0`` and ``false`` (any case) are false (surprise 10)."""
    return value != "0" and value.lower() != "false"


def wants_watch(query: Mapping[str, str]) -> bool:
    return "watch" in query and parse_bool(query["watch"])


@dataclass(frozen=True, slots=True)
class WatchOptions:
    resource_version: str
    timeout: float
    bookmarks: bool
    send_initial_events: bool
    label: LabelSelector
    field: FieldSelector

    @property
    def has_selector(self) -> bool:
        return not (self.label.empty and self.field.empty)

    def admits(self, obj: JsonObject) -> bool:
        metadata = obj.get("metadata") or {}
        return self.label.matches(metadata.get("labels")) and self.field.matches(obj)


def parse_watch_options(
    query: Mapping[str, str], kind: ResourceKind, *, pinned_name: str | None = None
) -> WatchOptions:
    """Watch parameters; ``pinned_name`` comes from a legacy ``/watch/.../<name>`` path."""
    resource_version = query.get("resourceVersion", "")
    if resource_version:
        parse_resource_version(resource_version)
    raw_timeout = query.get("timeoutSeconds", "")
    if raw_timeout:
        try:
            timeout = float(int(raw_timeout))
        except ValueError as error:
            raise bad_request(
                f'strconv.ParseInt: parsing "{raw_timeout}": invalid syntax'
            ) from error
    else:
        timeout = random.uniform(1800.0, 3600.0)
    field_text = query.get("fieldSelector", "")
    if pinned_name is not None:
        field_text = ",".join(filter(None, (field_text, f"metadata.name={pinned_name}")))
    return WatchOptions(
        resource_version=resource_version,
        timeout=timeout,
        bookmarks=parse_bool(query["allowWatchBookmarks"])
        if "allowWatchBookmarks" in query
        else False,
        send_initial_events=(
            parse_bool(query["sendInitialEvents"]) if "sendInitialEvents" in query else False
        ),
        label=parse_label_selector(query.get("labelSelector", "")),
        field=parse_field_selector(field_text, kind),
    )


class WatchStream:
    """One open watch connection, from its first event to its close."""

    def __init__(
        self,
        *,
        store: Store,
        lister: Lister,
        kind: ResourceKind,
        version: str,
        namespace: str | None,
        options: WatchOptions,
        bookmark_interval: float,
        drop_after: int | None = None,
        expire: bool = False,
    ) -> None:
        self._store = store
        self._lister = lister
        self._kind = kind
        self._storage_kind = serialization.storage_kind(kind)
        self._version = version
        self._namespace = namespace
        self._options = options
        self._bookmark_interval = bookmark_interval
        self._drop_after = drop_after
        self._expire = expire
        self._subscription: Subscription | None = None
        self._visible: dict[str, JsonObject] = {}
        self._response: web.StreamResponse | None = None
        self._request: web.BaseRequest | None = None
        self._start_rv = 0
        self._stopping = False
        self.events_sent = 0
        self.finished = asyncio.Event()
        """Set once the stream has ended, however it ended."""

    # -- control ---------------------------------------------------------------------------------

    @property
    def resource(self) -> str:
        """The plural resource name being watched."""
        return self._kind.plural

    @property
    def user_agent(self) -> str:
        return self._request.headers.get("User-Agent", "") if self._request is not None else ""

    def stop(self, *, abort: bool = False) -> None:
        """End the stream: cleanly (server stop), or by dropping the connection (faults)."""
        self._stopping = True
        if abort and self._request is not None and self._request.transport is not None:
            self._request.transport.abort()
        if self._subscription is not None:
            self._subscription.close()

    # -- serving ---------------------------------------------------------------------------------

    async def serve(self, request: web.BaseRequest) -> web.StreamResponse:
        """Stream events to ``request`` until the timeout, a stop, or the client leaving."""
        try:
            return await self._serve(request)
        finally:
            self.finished.set()

    async def _serve(self, request: web.BaseRequest) -> web.StreamResponse:
        self._request = request
        response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        self._response = response
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            backlog = self._start()
        except ApiError as error:
            await response.prepare(request)
            await self._write_line(
                b'{"type":"ERROR","object":'
                + serialization.encode(error.status_body()).rstrip(b"\n")
                + b"}\n"
            )
            await self._finish()
            return response
        await response.prepare(request)
        try:
            for event_type, obj in backlog:
                await self._send(event_type, obj)
            if self._options.send_initial_events and self._options.resource_version in ("", "0"):
                await self._send_bookmark(self._start_rv, initial_events_end=True)
            await self._pump(started)
        except (ConnectionError, _Dropped):
            return response
        finally:
            if self._subscription is not None:
                self._subscription.close()
        await self._finish()
        return response

    def _start(self) -> list[tuple[str, JsonObject]]:
        """Initial events and the live subscription, taken together with no await between."""
        if self._expire:
            oldest = self._store.oldest_watchable(self._storage_kind)
            requested = self._options.resource_version or "0"
            raise gone(f"too old resource version: {requested} ({oldest + 1})")
        store = self._store
        requested = self._options.resource_version
        if requested in ("", "0"):
            entries = self._lister.current(self._storage_kind, self._namespace)
            self._subscription = store.subscribe(self._storage_kind)
            self._start_rv = store.resource_version
            backlog: list[tuple[str, JsonObject]] = []
            for key, obj in entries:
                if self._options.admits(obj):
                    self._visible[key] = obj
                    backlog.append(("ADDED", obj))
            return backlog
        start = int(requested)
        records = (
            store.events_since(self._storage_kind, start) if start <= store.resource_version else []
        )
        self._subscription = store.subscribe(self._storage_kind)
        self._start_rv = start
        if self._options.has_selector:
            self._visible = self._visible_at(start)
        return [event for record in records if (event := self._translate(record)) is not None]

    def _visible_at(self, resource_version: int) -> dict[str, JsonObject]:
        try:
            entries = self._lister.at(self._storage_kind, self._namespace, resource_version)
        except ApiError:
            entries = self._lister.current(self._storage_kind, self._namespace)
        return {key: obj for key, obj in entries if self._options.admits(obj)}

    async def _pump(self, started: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = started + self._options.timeout
        due = self._bookmark_times(started, deadline)
        subscription = self._subscription
        assert subscription is not None
        getter: asyncio.Future[WatchRecord | None] = asyncio.ensure_future(subscription.get())
        try:
            while not self._stopping:
                if getter.done():
                    record = getter.result()
                    if record is None:
                        return
                    getter = asyncio.ensure_future(subscription.get())
                    await self._deliver(record)
                    continue
                now = loop.time()
                if now >= deadline:
                    return
                if due and now >= due[0]:
                    due.pop(0)
                    if subscription.queue.empty():
                        await self._send_bookmark(self._store.resource_version)
                    continue
                wake = min([deadline, now + _LIVENESS_TICK, *due[:1]])
                await asyncio.wait({getter}, timeout=max(0.0, wake - now))
                if not getter.done():
                    self._check_client()
        finally:
            getter.cancel()

    async def _deliver(self, record: WatchRecord) -> None:
        if record.resource_version <= self._start_rv:
            return
        event = self._translate(record)
        if event is not None:
            await self._send(*event)

    def _bookmark_times(self, started: float, deadline: float) -> list[float]:
        if not self._options.bookmarks:
            return []
        times = {deadline - lead for lead in _PRE_DEADLINE_BOOKMARKS if deadline - lead > started}
        tick = started + self._bookmark_interval
        while tick < deadline:
            times.add(tick)
            tick += self._bookmark_interval
        return sorted(times)

    def _check_client(self) -> None:
        transport = self._request.transport if self._request is not None else None
        if transport is None or transport.is_closing():
            raise ConnectionResetError("watch client went away")

    # -- events ----------------------------------------------------------------------------------

    def _translate(self, record: WatchRecord) -> tuple[str, JsonObject] | None:
        """The event this watcher sees for a change, after namespace and selector filtering."""
        if self._namespace is not None and record.namespace != self._namespace:
            return None
        if not self._options.has_selector:
            return record.type, record.object
        across = self._namespace is None and self._kind.namespaced
        key = scope_key(record.object, across_namespaces=across)
        previous = self._visible.pop(key, None)
        if record.type != "DELETED" and self._options.admits(record.object):
            self._visible[key] = record.object
            return ("MODIFIED" if previous is not None else "ADDED"), record.object
        if previous is None:
            return None
        if record.type == "DELETED":
            return "DELETED", record.object
        last_seen = dict(previous)
        last_seen["metadata"] = {
            **previous.get("metadata", {}),
            "resourceVersion": str(record.resource_version),
        }
        return "DELETED", last_seen

    async def _send(self, event_type: str, stored: JsonObject) -> None:
        wire = serialization.to_wire(self._kind, stored, self._version)
        await self._write_line(serialization.encode_watch_event(self._kind, event_type, wire))
        self.events_sent += 1
        if self._drop_after is not None and self.events_sent >= self._drop_after:
            self.stop(abort=True)
            raise _Dropped

    async def _send_bookmark(
        self, resource_version: int, *, initial_events_end: bool = False
    ) -> None:
        """A BOOKMARK; the caller makes sure every change up to ``resource_version`` was sent."""
        if resource_version < self._start_rv:
            return
        obj = serialization.bookmark_object(self._kind, self._version, resource_version)
        if initial_events_end:
            obj["metadata"]["annotations"] = {"k8s.io/initial-events-end": "true"}
        await self._write_line(serialization.encode_watch_event(self._kind, "BOOKMARK", obj))

    async def _write_line(self, line: bytes) -> None:
        assert self._response is not None
        await self._response.write(line)

    async def _finish(self) -> None:
        assert self._response is not None
        try:
            await self._response.write_eof()
        except ConnectionError:
            return


class _Dropped(Exception):
    """The stream was cut on purpose (fault injection)."""
