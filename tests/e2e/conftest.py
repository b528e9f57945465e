"""The running controller and the ways end-to-end tests look at what it did.

``start_controller`` builds the real pipeline (``running.build_controller``,
as ``headless-reconciler run`` does) against the ``cluster`` fixture's
kubeconfig, scoped to the test's namespace, and stops it at teardown; a crash
of the controller fails the test there. Every reconcile result is recorded,
so a test can wait until the controller has *looked* at an object before
asserting that it left it alone: "nothing happened" is only evidence once
the controller had its chance.

Waiting is always on a condition with a deadline: watches of the objects
through the API (so the same helpers serve a real cluster), or the
controller's own reports. Only the write log (``writes_by_controller``) needs
the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from reconciler import running
from reconciler.api.client import KubeClient, load_configuration
from reconciler.applying.applier import Applied, Outcome
from reconciler.config import RunSettings
from reconciler.models.refs import Kind, ObjectKey
from reconciler.runtime.controller import Controller
from reconciler.simulator.simulator import Simulator
from reconciler.simulator.store import WriteRecord
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_ready_addresses, watch_until
from tests.conftest import Cluster

JsonObject = dict[str, Any]

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSION = "v1"
SERVICE_ENTRIES = "serviceentries"
WORKLOAD_ENTRIES = "workloadentries"
SERVICE_ANNOTATION = "headless-reconciler.io/service"
POD_ANNOTATION = "headless-reconciler.io/pod"
IP_FAMILY_ANNOTATION = "headless-reconciler.io/ip-family"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
CONTROLLER_USER_AGENT = "headless-reconciler/"

FAST_REMOVAL_GRACE = 0.5
"""Seconds: long enough to ride out a restart in these tests, short enough to wait out."""
WAIT = 10.0
"""Seconds any single wait may take before the test fails."""


# -- the controller ----------------------------------------------------------------------------


class Reconciles:
    """Every result the controller reported, in order, and waits on what comes next."""

    def __init__(self) -> None:
        self.results: list[Applied] = []
        self._waiters: list[tuple[Callable[[Applied], bool], asyncio.Future[Applied]]] = []

    def record(self, applied: Applied, observed_at: float | None) -> None:
        del observed_at
        self.results.append(applied)
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(applied):
                future.set_result(applied)

    def mark(self) -> int:
        """A position: pass it as ``after`` to wait only for results reported from now on."""
        return len(self.results)

    async def wait_for(
        self,
        key: ObjectKey,
        *outcomes: Outcome,
        after: int = 0,
        within: float = WAIT,
    ) -> Applied:
        """The first result for ``key`` (with one of ``outcomes``, if given) since ``after``."""

        def matches(applied: Applied) -> bool:
            return applied.key == key and (not outcomes or applied.outcome in outcomes)

        for applied in self.results[after:]:
            if matches(applied):
                return applied
        future: asyncio.Future[Applied] = asyncio.get_running_loop().create_future()
        waiter = (matches, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, within)
        except TimeoutError:
            seen = [(str(a.key), str(a.outcome)) for a in self.results[after:]]
            raise TimeoutError(f"no {outcomes or 'result'} for {key} in {within}s: {seen}") from None
        finally:
            self._waiters.remove(waiter)

    async def wait_for_rounds(
        self, keys: list[ObjectKey], *, rounds: int, after: int, within: float = WAIT
    ) -> None:
        """Until each of ``keys`` was reconciled ``rounds`` more times (any outcome)."""
        async with asyncio.timeout(within):
            for key in keys:
                position = after
                for _ in range(rounds):
                    await self.wait_for(key, after=position, within=within)
                    position = next(
                        index + 1
                        for index in range(position, len(self.results))
                        if self.results[index].key == key
                    )

    def outcomes(self, key: ObjectKey, *, after: int = 0) -> list[Outcome]:
        return [applied.outcome for applied in self.results[after:] if applied.key == key]


@dataclass
class RunningController:
    controller: Controller
    settings: RunSettings
    reconciles: Reconciles = field(default_factory=Reconciles)


class ControllerStarter(Protocol):
    async def __call__(self, **overrides: Any) -> RunningController: ...


async def _stop(controller: Controller, task: asyncio.Task[None]) -> None:
    controller.stop()
    await asyncio.wait_for(task, WAIT)


@pytest.fixture
async def start_controller(cluster: Cluster, namespace: str) -> AsyncIterator[ControllerStarter]:
    """Start the controller with ``RunSettings`` overrides; it is stopped at teardown.

    Defaults: the test's namespace only, a short ``--removal-grace``.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> RunningController:
            values: dict[str, Any] = {
                "kubeconfig": cluster.kubeconfig,
                "namespaces": (namespace,),
                "removal_grace_seconds": FAST_REMOVAL_GRACE,
                **overrides,
            }
            settings = RunSettings(**values)
            configuration = await load_configuration(kubeconfig=str(cluster.kubeconfig))
            client = await stack.enter_async_context(KubeClient(configuration))
            reconciles = Reconciles()
            controller = await running.build_controller(
                settings, client, on_result=reconciles.record
            )
            task = asyncio.create_task(controller.run(), name="controller")
            stack.push_async_callback(_stop, controller, task)
            synced = asyncio.create_task(controller.cache.synced.wait())
            await asyncio.wait({synced, task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
            synced.cancel()
            if task.done():
                task.result()
                raise AssertionError("the controller stopped before its caches synced")
            if not controller.cache.synced.is_set():
                raise TimeoutError(f"caches not synced after {WAIT}s")
            return RunningController(controller, settings, reconciles)

        yield start


@pytest.fixture
async def controller(start_controller: ControllerStarter) -> RunningController:
    """The controller with default test settings, running."""
    return await start_controller()


def service_entry_key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey(Kind.SERVICE_ENTRY, namespace, name)


def workload_entry_key(namespace: str, name: str) -> ObjectKey:
    return ObjectKey(Kind.WORKLOAD_ENTRY, namespace, name)


# -- the world ---------------------------------------------------------------------------------


async def start_statefulset(
    api: ApiClient, *, namespace: str, replicas: int, name: str = "web", **options: Any
) -> StatefulPodSet:
    """Pods ``<name>-0..`` behind their headless Service, with slices showing them ready."""
    pods = StatefulPodSet(api, name=name, namespace=namespace, **options)
    await pods.create(replicas)
    family = "IPv6" if pods.family == "IPv6" else "IPv4"
    await wait_for_ready_addresses(
        api,
        namespace=namespace,
        service=pods.service_name,
        expected=pods.ready_addresses(address_type=family),
        address_type=family,
        within=WAIT,
    )
    return pods


def endpoint_of(pods: StatefulPodSet, index: int, **fields: Any) -> JsonObject:
    """A ServiceEntry endpoint for pod ``index`` at its current (first) address."""
    pod = pods.pod(index)
    labels = {POD_NAME_LABEL: pod.name, **fields.pop("labels", {})}
    return {"address": pod.addresses[0], "labels": labels, **fields}


def service_entry_manifest(
    name: str,
    *,
    namespace: str,
    hosts: list[str],
    endpoints: list[JsonObject],
    annotations: dict[str, str] | None = None,
    resolution: str = "STATIC",
) -> JsonObject:
    return {
        "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
        "kind": "ServiceEntry",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {
            "hosts": hosts,
            "location": "MESH_INTERNAL",
            "resolution": resolution,
            "ports": [
                {"number": 8080, "name": "http", "protocol": "HTTP"},
                {"number": 9090, "name": "grpc", "protocol": "GRPC"},
            ],
            "endpoints": endpoints,
        },
    }


def workload_entry_manifest(
    name: str, *, namespace: str, address: str, annotations: dict[str, str] | None = None
) -> JsonObject:
    return {
        "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations or {}},
        "spec": {"address": address, "labels": {"app": "web", "track": "stable"}, "weight": 3},
    }


def _custom(api: ApiClient) -> Any:
    """The client's stubs type bodies as models; at run time it sends dicts as they are."""
    return CustomObjectsApi(api)


async def create_istio_object(api: ApiClient, plural: str, body: JsonObject) -> JsonObject:
    namespace = body["metadata"]["namespace"]
    created: JsonObject = await _custom(api).create_namespaced_custom_object(
        ISTIO_GROUP, ISTIO_VERSION, namespace, plural, body
    )
    return created


async def get_istio_object(api: ApiClient, plural: str, namespace: str, name: str) -> JsonObject:
    found: JsonObject = await _custom(api).get_namespaced_custom_object(
        ISTIO_GROUP, ISTIO_VERSION, namespace, plural, name
    )
    return found


async def patch_istio_object(
    api: ApiClient, plural: str, namespace: str, name: str, patch: JsonObject
) -> JsonObject:
    patched: JsonObject = await _custom(api).patch_namespaced_custom_object(
        ISTIO_GROUP,
        ISTIO_VERSION,
        namespace,
        plural,
        name,
        patch,
        _content_type="application/merge-patch+json",
    )
    return patched


async def wait_for_istio_object(
    api: ApiClient,
    plural: str,
    namespace: str,
    name: str,
    until: Callable[[JsonObject], bool],
    *,
    within: float = WAIT,
) -> JsonObject:
    """The object once ``until`` holds for it, watched through the API."""
    list_call = functools.partial(
        _custom(api).list_namespaced_custom_object, ISTIO_GROUP, ISTIO_VERSION, namespace, plural
    )
    found = await watch_until(
        list_call,
        lambda objects: any(until(obj) for obj in objects),
        within=within,
        what=f"{plural} {namespace}/{name}",
        field_selector=f"metadata.name={name}",
    )
    return next(obj for obj in found if until(obj))


def addresses(entry: JsonObject) -> list[str]:
    """A ServiceEntry's endpoint addresses, in order."""
    return [endpoint["address"] for endpoint in entry["spec"].get("endpoints") or []]


async def wait_for_endpoints(
    api: ApiClient, namespace: str, name: str, expected: list[str], *, within: float = WAIT
) -> JsonObject:
    """The ServiceEntry once its endpoint addresses are exactly ``expected``, in that order."""
    return await wait_for_istio_object(
        api,
        SERVICE_ENTRIES,
        namespace,
        name,
        lambda entry: addresses(entry) == expected,
        within=within,
    )


async def wait_for_address(
    api: ApiClient, namespace: str, name: str, expected: str, *, within: float = WAIT
) -> JsonObject:
    """The WorkloadEntry once its ``spec.address`` is ``expected``."""
    return await wait_for_istio_object(
        api,
        WORKLOAD_ENTRIES,
        namespace,
        name,
        lambda entry: entry["spec"].get("address") == expected,
        within=within,
    )


async def wait_for_event(
    api: ApiClient, namespace: str, *, involved: str, reason: str, within: float = WAIT
) -> JsonObject:
    """The first core/v1 Event about object ``involved`` with ``reason``."""

    def about(event: JsonObject) -> bool:
        return event["involvedObject"].get("name") == involved and event.get("reason") == reason

    found = await watch_until(
        functools.partial(CoreV1Api(api).list_namespaced_event, namespace),
        lambda events: any(about(event) for event in events),
        within=within,
        what=f"{reason} Event on {namespace}/{involved}",
    )
    return next(event for event in found if about(event))


# -- what the simulator saw --------------------------------------------------------------------


def writes_by_controller(
    sim: Simulator, *, resource: str | None = None, name: str | None = None, after: int = 0
) -> list[WriteRecord]:
    """The controller's write requests (its User-Agent), optionally to one object."""
    return [
        record
        for record in sim.store.write_log[after:]
        if record.user_agent.startswith(CONTROLLER_USER_AGENT)
        and (resource is None or record.resource.endswith(f"/{resource}") or record.resource == resource)
        and (name is None or record.name == name)
    ]


Check = Callable[[], Awaitable[None]]
