"""Waiting for the world to reach a state, through the API only.

Every wait lists, checks, then watches from the list's resourceVersion and
checks again after each event, relisting when the watch ends or answers 410;
it never sleeps on a guess and always ends at its deadline. Objects are read
as raw JSON (the client's models are not needed, and would choke on nothing
here), so the same helpers work against the simulator and a real cluster.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api, DiscoveryV1Api
from kubernetes_asyncio.client.exceptions import ApiException

JsonObject = dict[str, Any]
ListCall = Callable[..., Awaitable[Any]]
"""A kubernetes-asyncio ``list_*`` method, with its namespace already bound if it takes one."""
Condition = Callable[[list[JsonObject]], bool]

DEFAULT_WAIT = 10.0
"""Seconds a wait lasts unless told otherwise."""
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


async def _read_json(response: Any) -> Any:
    if response.status != 200:
        raise ApiException(status=response.status, reason=await response.text())
    return json.loads(await response.read())


async def _lines(response: Any) -> Any:
    """The watch stream's lines, however long (a 100-endpoint slice is tens of kilobytes)."""
    pending = b""
    async for chunk in response.content.iter_any():
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            if line.strip():
                yield json.loads(line)


async def _follow(
    list_call: ListCall,
    selectors: dict[str, str],
    resource_version: str,
    seen: dict[str, JsonObject],
    until: Condition,
    seconds_left: float,
) -> bool:
    """Apply watch events to ``seen`` until ``until`` holds (True) or the watch ends (False)."""
    response = await list_call(
        watch=True,
        resource_version=resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=max(1, math.ceil(seconds_left)),
        _preload_content=False,
        **selectors,
    )
    try:
        if response.status != 200:
            raise ApiException(status=response.status, reason=await response.text())
        async for event in _lines(response):
            if event["type"] == "ERROR":
                return False
            if event["type"] == "BOOKMARK":
                continue
            name = event["object"]["metadata"]["name"]
            if event["type"] == "DELETED":
                seen.pop(name, None)
            else:
                seen[name] = event["object"]
            if until(list(seen.values())):
                return True
        return False
    finally:
        response.release()


async def watch_until(
    list_call: ListCall,
    until: Condition,
    *,
    within: float = DEFAULT_WAIT,
    what: str = "objects",
    label_selector: str | None = None,
    field_selector: str | None = None,
) -> list[JsonObject]:
    """The selected objects once ``until`` holds for them; TimeoutError after ``within`` seconds."""
    selectors = {
        key: value
        for key, value in (("label_selector", label_selector), ("field_selector", field_selector))
        if value is not None
    }
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    seen: dict[str, JsonObject] = {}
    try:
        async with asyncio.timeout(within):
            while True:
                listed = await _read_json(await list_call(_preload_content=False, **selectors))
                seen = {item["metadata"]["name"]: item for item in listed.get("items") or []}
                if until(list(seen.values())):
                    return list(seen.values())
                resource_version = listed["metadata"]["resourceVersion"]
                left = deadline - loop.time()
                if await _follow(list_call, selectors, resource_version, seen, until, left):
                    return list(seen.values())
    except TimeoutError as error:
        names = sorted(seen)
        raise TimeoutError(f"{what} not as expected after {within}s; last seen: {names}") from error


def ready_addresses(slices: Iterable[JsonObject], *, address_type: str = "IPv4") -> set[str]:
    """Addresses of the endpoints a consumer should route to (``ready`` true or unset)."""
    found: set[str] = set()
    for endpoint_slice in slices:
        if endpoint_slice.get("addressType") != address_type:
            continue
        for endpoint in endpoint_slice.get("endpoints") or []:
            if (endpoint.get("conditions") or {}).get("ready", True) is not False:
                found.update(endpoint.get("addresses") or [])
    return found


async def wait_for_slices(
    api: ApiClient,
    *,
    namespace: str,
    service: str,
    until: Condition,
    within: float = DEFAULT_WAIT,
) -> list[JsonObject]:
    """The Service's EndpointSlices once ``until`` holds for them."""
    list_call = functools.partial(DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace)
    return await watch_until(
        list_call,
        until,
        within=within,
        what=f"EndpointSlices of {namespace}/{service}",
        label_selector=f"{SERVICE_NAME_LABEL}={service}",
    )


async def wait_for_ready_addresses(
    api: ApiClient,
    *,
    namespace: str,
    service: str,
    expected: Iterable[str],
    address_type: str = "IPv4",
    within: float = DEFAULT_WAIT,
) -> list[JsonObject]:
    """The Service's slices once their ready addresses are exactly ``expected``."""
    wanted = set(expected)
    return await wait_for_slices(
        api,
        namespace=namespace,
        service=service,
        until=lambda slices: ready_addresses(slices, address_type=address_type) == wanted,
        within=within,
    )


async def wait_for_pod_gone(
    api: ApiClient,
    *,
    namespace: str,
    name: str,
    uid: str | None = None,
    within: float = DEFAULT_WAIT,
) -> None:
    """Until no pod of that name (or, given ``uid``, not that incarnation of it) exists."""
    await watch_until(
        functools.partial(CoreV1Api(api).list_namespaced_pod, namespace),
        lambda pods: all(uid is not None and pod["metadata"]["uid"] != uid for pod in pods),
        within=within,
        what=f"pod {namespace}/{name} gone",
        field_selector=f"metadata.name={name}",
    )


async def wait_for_namespace_gone(
    api: ApiClient, *, name: str, within: float = DEFAULT_WAIT
) -> None:
    """Until the namespace (and so everything in it) no longer exists."""
    await watch_until(
        CoreV1Api(api).list_namespace,
        lambda namespaces: not namespaces,
        within=within,
        what=f"namespace {name} gone",
        field_selector=f"metadata.name={name}",
    )
