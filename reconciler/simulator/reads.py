"""GET, LIST and WATCH: objects shown as stored, in the version asked for.

LIST pages and resourceVersion rules live in ``listing``, watch streams in
``watching``; this is where a request reaches them, and where ``kubectl get``'s
Table representation is chosen.
"""

from __future__ import annotations

from aiohttp import web

from reconciler.simulator import serialization
from reconciler.simulator.errors import not_found
from reconciler.simulator.listing import parse_list_options
from reconciler.simulator.verbs import Call, Verbs
from reconciler.simulator.watching import WatchStream, parse_watch_options


class Reads(Verbs):
    """GET, LIST and WATCH."""

    async def _get(self, call: Call) -> web.StreamResponse:
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

    async def _list(self, call: Call) -> web.StreamResponse:
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

    async def _watch(self, call: Call) -> web.StreamResponse:
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
            expire=self._faults.take_expiry(call.record),
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

    async def wait_for_watches(self, count: int, *, agent: str | None = None) -> None:
        """Wait until exactly ``count`` watch streams are open (of clients whose User-Agent
        starts with ``agent``, if given)."""

        def open_now() -> int:
            return sum(1 for w in self.watches if agent is None or w.user_agent.startswith(agent))

        async with self._watches_changed:
            await self._watches_changed.wait_for(lambda: open_now() == count)
