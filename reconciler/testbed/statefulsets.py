"""A StatefulSet's pods, played by hand through the API: the controller and kubelet parts.

Tests and the demo need pods that keep their names and change IPs, behind a
headless Service, with the EndpointSlices kube-controller-manager derives from
them. Without a kubelet, a scheduler or a StatefulSet controller, this is what
those would have written: pods bound to a Node (``spec.nodeName``) with
``hostname``/``subdomain`` set, their status (IPs, Ready) through
``pods/status``, a restart as a forced delete and a new pod of the same name
with a new IP and uid. Everything goes through the kubernetes-asyncio client,
so the same code drives the simulator and a real control plane.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.testbed.addresses import IpFamilyMode, PodIpAllocator
from reconciler.testbed.manifests import (
    DEFAULT_IMAGE,
    DEFAULT_PORTS,
    POD_NAME_LABEL,
    NamedPort,
    headless_service_manifest,
    namespace_manifest,
    node_manifest,
    pod_manifest,
    running_status,
)
from reconciler.testbed.waiting import DEFAULT_WAIT, wait_for_pod_gone

DEFAULT_NODE = "sim-node-1"
DEFAULT_ZONE = "zone-a"
DEFAULT_HOST_IP = "192.0.2.250"
MERGE_PATCH = "application/merge-patch+json"
_CONCURRENT_REQUESTS = 8


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _request(call: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
    """Call a client method with plain JSON bodies.

    The client's stubs type bodies as its models and leave out ``_content_type``;
    at run time it sends dicts as they are and honours ``_content_type``.
    """
    return await call(*args, **kwargs)


async def _create_unless_present(create: Callable[..., Awaitable[Any]], body: Any) -> None:
    try:
        await _request(create, body)
    except ApiException as error:
        if error.status != 409:
            raise


async def ensure_namespace(api: ApiClient, name: str) -> None:
    """Create the namespace unless it exists."""
    await _create_unless_present(CoreV1Api(api).create_namespace, namespace_manifest(name))


async def ensure_node(
    api: ApiClient, name: str = DEFAULT_NODE, *, zone: str = DEFAULT_ZONE
) -> None:
    """Create the Node pods are bound to unless it exists (its zone label feeds slices)."""
    await _create_unless_present(CoreV1Api(api).create_node, node_manifest(name, zone=zone))


@dataclass(frozen=True, slots=True)
class PodState:
    """One pod as this set last wrote it."""

    index: int
    name: str
    uid: str
    addresses: tuple[str, ...]
    ready: bool
    terminating: bool = False


class StatefulPodSet:
    """Pods ``<name>-0 .. <name>-N-1`` behind a headless Service, changed only via the API.

    ``allocator`` can be shared between sets so their pods draw from one pod
    CIDR (needed to hand one set's old address to another with
    ``reuse_ip_of``).
    """

    def __init__(
        self,
        api: ApiClient,
        *,
        name: str,
        namespace: str,
        service_name: str | None = None,
        labels: Mapping[str, str] | None = None,
        create_service: bool = True,
        publish_not_ready_addresses: bool = False,
        ports: Iterable[NamedPort] = DEFAULT_PORTS,
        family: IpFamilyMode = "IPv4",
        allocator: PodIpAllocator | None = None,
        node_name: str = DEFAULT_NODE,
        zone: str = DEFAULT_ZONE,
        host_ip: str = DEFAULT_HOST_IP,
        image: str = DEFAULT_IMAGE,
        wait_within: float = DEFAULT_WAIT,
    ) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self.name = name
        self.namespace = namespace
        self.service_name = service_name or name
        self.selector = dict(labels or {"app": name})
        self.family: IpFamilyMode = family
        self.allocator = allocator or PodIpAllocator()
        self._create_service = create_service
        self._publish_not_ready = publish_not_ready_addresses
        self._ports = tuple(ports)
        self._node_name = node_name
        self._zone = zone
        self._host_ip = host_ip
        self._image = image
        self._wait_within = wait_within
        self._pods: dict[int, PodState] = {}
        self._limit = asyncio.Semaphore(_CONCURRENT_REQUESTS)

    # -- what exists ---------------------------------------------------------------------------

    def pod_name(self, index: int) -> str:
        return f"{self.name}-{index}"

    @property
    def pods(self) -> list[PodState]:
        return [self._pods[index] for index in sorted(self._pods)]

    def pod(self, index: int) -> PodState:
        return self._pods[index]

    def ready_addresses(self, *, address_type: str = "IPv4") -> set[str]:
        """The addresses the Service's slices should show as ready now."""
        version = 6 if address_type == "IPv6" else 4
        return {
            address
            for pod in self._pods.values()
            if self._publish_not_ready or (pod.ready and not pod.terminating)
            for address in pod.addresses
            if ipaddress.ip_address(address).version == version
        }

    # -- changing the world --------------------------------------------------------------------

    async def create(self, replicas: int) -> None:
        """The Node, the headless Service (unless the caller brings one) and ``replicas`` pods."""
        await ensure_node(self._api, self._node_name, zone=self._zone)
        if self._create_service:
            await _request(
                self._core.create_namespaced_service,
                self.namespace,
                headless_service_manifest(
                    self.service_name,
                    namespace=self.namespace,
                    selector=self.selector,
                    ports=self._ports,
                    publish_not_ready_addresses=self._publish_not_ready,
                    family=self.family,
                ),
            )
        await self.scale(replicas)

    async def scale(self, replicas: int) -> None:
        """Start missing pods from the lowest index; remove extra ones from the highest."""
        missing = [index for index in range(replicas) if index not in self._pods]
        extra = sorted((index for index in self._pods if index >= replicas), reverse=True)
        await asyncio.gather(*(self._start(index) for index in missing))
        await asyncio.gather(*(self._remove(index) for index in extra))

    async def restart(self, index: int, *, reuse_ip_of: str | None = None) -> PodState:
        """Force-delete pod ``index``, wait until it is gone, start it again with a new IP.

        ``reuse_ip_of`` (a pod name in this namespace, or ``namespace/name``)
        gives the new pod the addresses that pod released when it was last
        deleted or restarted, instead of fresh ones.
        """
        await self._remove(index)
        return await self._start(index, reuse_ip_of=reuse_ip_of)

    async def set_ready(self, index: int, ready: bool) -> PodState:
        """Flip the Ready and ContainersReady conditions, as a failing or passing probe would."""
        current = self._pods[index]
        await self._write_status(current.name, current.addresses, ready=ready)
        self._pods[index] = replace(current, ready=ready)
        return self._pods[index]

    async def begin_termination(self, index: int) -> None:
        """A graceful DELETE: the pod stays Terminating, as it does with no kubelet to finish."""
        await self._core.delete_namespaced_pod(self.pod_name(index), self.namespace)
        self._pods[index] = replace(self._pods[index], terminating=True)

    async def delete(self) -> None:
        """Remove every pod, then the Service if this set created it."""
        await self.scale(0)
        if self._create_service:
            await self._core.delete_namespaced_service(self.service_name, self.namespace)

    # -- one pod -------------------------------------------------------------------------------

    def _addresses_for(self, name: str, reuse_ip_of: str | None) -> tuple[str, ...]:
        key = f"{self.namespace}/{name}"
        if reuse_ip_of is None:
            return self.allocator.allocate(key, family=self.family)
        holder = reuse_ip_of if "/" in reuse_ip_of else f"{self.namespace}/{reuse_ip_of}"
        return self.allocator.reuse(key, previous_holder=holder)

    async def _start(self, index: int, *, reuse_ip_of: str | None = None) -> PodState:
        name = self.pod_name(index)
        addresses = self._addresses_for(name, reuse_ip_of)
        manifest = pod_manifest(
            name,
            namespace=self.namespace,
            labels={**self.selector, POD_NAME_LABEL: name},
            node_name=self._node_name,
            subdomain=self.service_name,
            ports=self._ports,
            image=self._image,
        )
        async with self._limit:
            created = await _request(self._core.create_namespaced_pod, self.namespace, manifest)
            await self._write_status(name, addresses, ready=True)
        self._pods[index] = PodState(index, name, created.metadata.uid, addresses, ready=True)
        return self._pods[index]

    async def _write_status(self, name: str, addresses: tuple[str, ...], *, ready: bool) -> None:
        body = running_status(addresses, host_ip=self._host_ip, ready=ready, transition_time=_now())
        await _request(
            self._core.patch_namespaced_pod_status,
            name,
            self.namespace,
            body,
            _content_type=MERGE_PATCH,
        )

    async def _remove(self, index: int) -> None:
        current = self._pods.pop(index)
        self.allocator.release(f"{self.namespace}/{current.name}")
        async with self._limit:
            try:
                await self._core.delete_namespaced_pod(
                    current.name, self.namespace, grace_period_seconds=0
                )
            except ApiException as error:
                if error.status != 404:
                    raise
        await wait_for_pod_gone(
            self._api,
            namespace=self.namespace,
            name=current.name,
            uid=current.uid,
            within=self._wait_within,
        )
