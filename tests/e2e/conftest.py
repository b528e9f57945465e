"""The running controller, the test world, and the ways end-to-end tests look at both.

``start_controller`` builds the real pipeline (``running.build_controller``,
as ``headless-reconciler run`` does) against the ``cluster`` fixture's
kubeconfig, scoped to the test's namespace, and stops it at teardown, where
a crash of the controller fails the test. Every reconcile result is
recorded, so a test can wait until the controller has *looked* at an object
before asserting that it left it alone: "nothing happened" is evidence only
once the controller had its chance.

The world changes only through the API: ``statefulset`` starts pods behind a
headless Service and waits for their EndpointSlices; ``istio`` creates,
patches and waits for ServiceEntries, WorkloadEntries and Events. Waiting is
always on a condition with a deadline (a watch through the API, or the
controller's own reports), so the same tests run against a real cluster.
Only ``controller_writes`` (the simulator's write log) skips there.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi

from reconciler import running
from reconciler.api.client import USER_AGENT, KubeClient, load_configuration
from reconciler.applying.applier import Applied, Outcome
from reconciler.config import RunSettings
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.references import POD_NAME_LABEL
from reconciler.runtime.controller import Controller
from reconciler.simulator.store import WriteRecord
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.statefulsets import StatefulPodSet
from reconciler.testbed.waiting import wait_for_ready_addresses, watch_until

if TYPE_CHECKING:
    from tests.conftest import Cluster

JsonObject = dict[str, Any]

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSION = "v1"
SERVICE_ENTRIES = "serviceentries"
WORKLOAD_ENTRIES = "workloadentries"
MERGE_PATCH = "application/merge-patch+json"

FAST_REMOVAL_GRACE = 0.5
"""Seconds: long enough to ride out a pod restart here, short enough to wait out."""
WAIT = 10.0
"""Seconds any single wait may take before the test fails."""


# -- the controller ----------------------------------------------------------------------------


class Reconciles:
    """Every result the controller reported, in order, and waits for the next ones."""

    def __init__(self) -> None:
        self.results: list[Applied] = []
        self._waiters: list[tuple[Callable[[Applied], bool], asyncio.Future[Applied]]] = []

    def record(self, applied: Applied, observed_at: float | None) -> None:
        del observed_at
        self.results.append(applied)
        for predicate, future in self._waiters:
            if not future.done() and predicate(applied):
                future.set_result(applied)

    def mark(self) -> int:
        """A position: pass it as ``after`` to consider only results reported from now on."""
        return len(self.results)

    async def wait_for(
        self, key: ObjectKey, *outcomes: Outcome, after: int = 0, within: float = WAIT
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
            seen = [f"{applied.key} {applied.outcome}" for applied in self.results[after:]]
            wanted = "/".join(outcomes) or "any result"
            raise TimeoutError(f"{wanted} for {key} not seen in {within}s: {seen}") from None
        finally:
            self._waiters.remove(waiter)

    async def wait_for_rounds(
        self, keys: list[ObjectKey], *, rounds: int, after: int, within: float = WAIT
    ) -> None:
        """Until each of ``keys`` has been reconciled ``rounds`` times since ``after``."""
        async with asyncio.timeout(within):
            for key in keys:
                while len(self.outcomes(key, after=after)) < rounds:
                    await self.wait_for(key, after=self.mark(), within=within)

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


async def _until_synced(controller: Controller, task: asyncio.Task[None]) -> None:
    synced = asyncio.create_task(controller.cache.synced.wait())
    await asyncio.wait({synced, task}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    synced.cancel()
    if task.done():
        task.result()
        raise AssertionError("the controller stopped before its caches synced")
    if not controller.cache.synced.is_set():
        raise TimeoutError(f"the controller's caches did not sync in {WAIT}s")


@pytest.fixture
async def start_controller(cluster: Cluster, namespace: str) -> AsyncIterator[ControllerStarter]:
    """Start the controller with ``RunSettings`` overrides, caches synced; stopped at teardown.

    Defaults: the test's namespace only, ``--removal-grace`` of ``FAST_REMOVAL_GRACE``.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: Any) -> RunningController:
            settings = RunSettings(
                **{
                    "kubeconfig": cluster.kubeconfig,
                    "namespaces": (namespace,),
                    "removal_grace_seconds": FAST_REMOVAL_GRACE,
                    **overrides,
                }
            )
            configuration = await load_configuration(kubeconfig=str(cluster.kubeconfig))
            client = await stack.enter_async_context(KubeClient(configuration))
            reconciles = Reconciles()
            controller = await running.build_controller(
                settings, client, on_result=reconciles.record
            )
            task = asyncio.create_task(controller.run(), name="controller")
            stack.push_async_callback(_stop, controller, task)
            await _until_synced(controller, task)
            return RunningController(controller, settings, reconciles)

        yield start


@pytest.fixture
async def controller(start_controller: ControllerStarter) -> RunningController:
    """The controller with the default test settings, running."""
    return await start_controller()


# -- the world ---------------------------------------------------------------------------------


class StatefulSetStarter(Protocol):
    async def __call__(
        self, replicas: int, *, name: str = "web", **options: Any
    ) -> StatefulPodSet: ...


@pytest.fixture
def statefulset(api: ApiClient, namespace: str) -> StatefulSetStarter:
    """Start pods ``<name>-0..`` behind their headless Service; returns once slices show them.

    Every set of a test draws from one pod CIDR, as on a cluster: two pods never
    share an address unless a test recycles one on purpose.
    """
    addresses = PodIpAllocator()

    async def start(replicas: int, *, name: str = "web", **options: Any) -> StatefulPodSet:
        options.setdefault("allocator", addresses)
        pods = StatefulPodSet(api, name=name, namespace=namespace, wait_within=WAIT, **options)
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

    return start


class Istio:
    """ServiceEntries, WorkloadEntries and Events of the test's namespace, through the API."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self._api = api
        # The client's stubs type bodies as models; at run time it sends dicts as they are.
        self._custom: Any = CustomObjectsApi(api)

    @staticmethod
    def endpoint_of(
        pods: StatefulPodSet, index: int, *, family: int = 0, **fields: Any
    ) -> JsonObject:
        """A ServiceEntry endpoint for pod ``index`` at its current address, with its name label."""
        pod = pods.pod(index)
        labels = {POD_NAME_LABEL: pod.name, **fields.pop("labels", {})}
        return {"address": pod.addresses[family], "labels": labels, **fields}

    @staticmethod
    def addresses(entry: JsonObject) -> list[str]:
        """A ServiceEntry's endpoint addresses, in order."""
        return [endpoint["address"] for endpoint in entry["spec"].get("endpoints") or []]

    @staticmethod
    def endpoints_by_pod(entry: JsonObject) -> dict[str, JsonObject]:
        return {
            endpoint["labels"][POD_NAME_LABEL]: endpoint for endpoint in entry["spec"]["endpoints"]
        }

    def service_entry_key(self, name: str) -> ObjectKey:
        return ObjectKey(Kind.SERVICE_ENTRY, self.namespace, name)

    def workload_entry_key(self, name: str) -> ObjectKey:
        return ObjectKey(Kind.WORKLOAD_ENTRY, self.namespace, name)

    def host(self, service: str, *, pod: str | None = None) -> str:
        prefix = f"{pod}.{service}" if pod else service
        return f"{prefix}.{self.namespace}.svc.cluster.local"

    async def create_service_entry(
        self,
        name: str,
        *,
        endpoints: list[JsonObject],
        hosts: list[str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> JsonObject:
        """A STATIC, MESH_INTERNAL ServiceEntry with ports ``http`` 8080 and ``grpc`` 9090."""
        body = {
            "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
            "kind": "ServiceEntry",
            "metadata": {"name": name, "namespace": self.namespace, "annotations": annotations},
            "spec": {
                "hosts": hosts or [self.host("web")],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [
                    {"number": 8080, "name": "http", "protocol": "HTTP"},
                    {"number": 9090, "name": "grpc", "protocol": "GRPC"},
                ],
                "endpoints": endpoints,
            },
        }
        return await self._create(SERVICE_ENTRIES, body)

    async def create_workload_entry(
        self, name: str, *, address: str, annotations: dict[str, str] | None = None
    ) -> JsonObject:
        body = {
            "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
            "kind": "WorkloadEntry",
            "metadata": {"name": name, "namespace": self.namespace, "annotations": annotations},
            "spec": {"address": address, "labels": {"app": "web", "track": "stable"}, "weight": 3},
        }
        return await self._create(WORKLOAD_ENTRIES, body)

    async def _create(self, plural: str, body: JsonObject) -> JsonObject:
        created: JsonObject = await self._custom.create_namespaced_custom_object(
            ISTIO_GROUP, ISTIO_VERSION, self.namespace, plural, body
        )
        return created

    async def get_service_entry(self, name: str) -> JsonObject:
        return await self._get(SERVICE_ENTRIES, name)

    async def get_workload_entry(self, name: str) -> JsonObject:
        return await self._get(WORKLOAD_ENTRIES, name)

    async def patch_service_entry(self, name: str, patch: JsonObject) -> JsonObject:
        return await self._patch(SERVICE_ENTRIES, name, patch)

    async def _get(self, plural: str, name: str) -> JsonObject:
        found: JsonObject = await self._custom.get_namespaced_custom_object(
            ISTIO_GROUP, ISTIO_VERSION, self.namespace, plural, name
        )
        return found

    async def _patch(self, plural: str, name: str, patch: JsonObject) -> JsonObject:
        """A JSON merge patch, as ``kubectl patch --type merge`` sends it."""
        patched: JsonObject = await self._custom.patch_namespaced_custom_object(
            ISTIO_GROUP,
            ISTIO_VERSION,
            self.namespace,
            plural,
            name,
            patch,
            _content_type=MERGE_PATCH,
        )
        return patched

    async def _wait_for(
        self, plural: str, name: str, until: Callable[[JsonObject], bool], *, within: float = WAIT
    ) -> JsonObject:
        """The object once ``until`` holds for it, watched through the API."""
        list_call = functools.partial(
            self._custom.list_namespaced_custom_object,
            ISTIO_GROUP,
            ISTIO_VERSION,
            self.namespace,
            plural,
        )
        found = await watch_until(
            list_call,
            lambda objects: any(until(obj) for obj in objects),
            within=within,
            what=f"{plural} {self.namespace}/{name}",
            field_selector=f"metadata.name={name}",
        )
        return next(obj for obj in found if until(obj))

    async def wait_for_endpoints(
        self, name: str, expected: list[str], *, within: float = WAIT
    ) -> JsonObject:
        """The ServiceEntry once its endpoint addresses are exactly ``expected``, in order."""
        return await self._wait_for(
            SERVICE_ENTRIES, name, lambda entry: self.addresses(entry) == expected, within=within
        )

    async def wait_for_address(
        self, name: str, expected: str, *, within: float = WAIT
    ) -> JsonObject:
        """The WorkloadEntry once its ``spec.address`` is ``expected``."""
        return await self._wait_for(
            WORKLOAD_ENTRIES,
            name,
            lambda entry: entry["spec"].get("address") == expected,
            within=within,
        )

    async def wait_for_event(self, *, about: str, reason: str, within: float = WAIT) -> JsonObject:
        """The first core/v1 Event with ``reason`` whose involved object is named ``about``."""
        (event, *_) = await self.wait_for_events(about=about, reason=reason, within=within)
        return event

    async def wait_for_events(
        self, *, about: str, reason: str, count: int = 1, within: float = WAIT
    ) -> list[JsonObject]:
        """Once there are ``count`` Events with ``reason`` about the object named ``about``."""

        def matching(events: list[JsonObject]) -> list[JsonObject]:
            return [
                event
                for event in events
                if event["involvedObject"].get("name") == about and event.get("reason") == reason
            ]

        found = await watch_until(
            functools.partial(CoreV1Api(self._api).list_namespaced_event, self.namespace),
            lambda events: len(matching(events)) >= count,
            within=within,
            what=f"{count} {reason} Event(s) about {self.namespace}/{about}",
        )
        return matching(found)


@pytest.fixture
def istio(api: ApiClient, namespace: str) -> Istio:
    return Istio(api, namespace)


# -- what the simulator saw --------------------------------------------------------------------


@dataclass
class ControllerWrites:
    """The controller's write requests (by its User-Agent) in the simulator's write log."""

    log: list[WriteRecord]

    def __call__(
        self, *, resource: str | None = None, name: str | None = None, after: int = 0
    ) -> list[WriteRecord]:
        """Optionally only to ``resource`` (plural, e.g. ``serviceentries``) and ``name``."""
        return [
            record
            for record in self.log[after:]
            if record.user_agent == USER_AGENT
            and (resource is None or resource in record.resource.split("/"))
            and (name is None or record.name == name)
        ]

    def mark(self) -> int:
        """A position: pass it as ``after`` to see only writes from now on."""
        return len(self.log)


@pytest.fixture
def controller_writes(cluster: Cluster) -> ControllerWrites:
    """Skips on a real cluster: only the simulator keeps a write log."""
    return ControllerWrites(cluster.require_simulator().store.write_log)


@pytest.fixture
def written_by(cluster: Cluster) -> ControllerWrites:
    """The controller's writes as the simulator logged them; always empty on a real cluster,
    where a test rests on its objects' unchanged ``resourceVersion`` alone."""
    return ControllerWrites(cluster.simulator.store.write_log if cluster.simulator else [])
