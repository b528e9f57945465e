"""Bad and odd input, written through the API exactly as a user or another controller could.

The shared e2e helpers (``tests/e2e/conftest.py``) build well-formed worlds;
the corpus needs the shapes they never make: ServiceEntries with any spec,
EndpointSlices written by hand, request bodies whose bytes are not UTF-8.

Hand-written slices belong to a headless Service *without a selector*: no
EndpointSlice controller (the simulator's or kube-controller-manager's)
touches the slices of such a Service, so they stay exactly as written on a
real cluster too. Imported by the corpus tests as ``corpus_world``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from kubernetes_asyncio.client import ApiClient, CoreV1Api, CustomObjectsApi, DiscoveryV1Api

from reconciler.planning.references import POD_NAME_LABEL
from reconciler.testbed.waiting import watch_until

JsonObject = dict[str, Any]

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSION = "v1"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
HAND_WRITTEN = "corpus.headless-reconciler.io"
"""The ``managed-by`` value of slices the corpus writes: no EndpointSlice controller's."""
HTTP_PORT = 8080
SLICE_PORTS = ({"name": "http", "port": HTTP_PORT, "protocol": "TCP"},)
WAIT = 10.0


def address_of(index: int, *, subnet: int = 250) -> str:
    """A distinct IPv4 address per index, in ``10.<subnet>.0.0/16``."""
    return f"10.{subnet}.{index // 256}.{index % 256}"


def slice_endpoint(
    address: str,
    *,
    pod: str | None = None,
    hostname: str | None = None,
    uid: str | None = None,
    ready: bool = True,
) -> JsonObject:
    """One EndpointSlice endpoint; ``pod`` makes a Pod ``targetRef``, ``hostname`` a hostname."""
    endpoint: JsonObject = {
        "addresses": [address],
        "conditions": {"ready": ready, "serving": ready, "terminating": False},
    }
    if pod is not None:
        endpoint["targetRef"] = {"kind": "Pod", "name": pod, "uid": uid or f"uid-{pod}"}
    if hostname is not None:
        endpoint["hostname"] = hostname
    return endpoint


def pod_endpoints(count: int, *, prefix: str = "big", start: int = 0) -> list[JsonObject]:
    """``count`` ready endpoints of pods ``<prefix>-<start>..``, each at its own address."""
    return [
        slice_endpoint(address_of(index), pod=f"{prefix}-{index}")
        for index in range(start, start + count)
    ]


def labelled_endpoint(address: str, pod: str, **fields: Any) -> JsonObject:
    """A ServiceEntry endpoint as the controller writes it: the address and the pod-name label."""
    return {"address": address, "labels": {POD_NAME_LABEL: pod}, **fields}


def static_spec(
    hosts: Iterable[str],
    *,
    endpoints: Iterable[JsonObject] = (),
    ports: Iterable[JsonObject] | None = ({"number": HTTP_PORT, "name": "http"},),
    resolution: str = "STATIC",
    **fields: Any,
) -> JsonObject:
    """A MESH_INTERNAL ServiceEntry spec; ``ports=None`` leaves ``ports`` out entirely."""
    spec: JsonObject = {
        "hosts": list(hosts),
        "location": "MESH_INTERNAL",
        "resolution": resolution,
        **fields,
    }
    if ports is not None:
        spec["ports"] = [{"protocol": "HTTP", **port} for port in ports]
    listed = list(endpoints)
    if listed:
        spec["endpoints"] = listed
    return spec


def endpoint_addresses(entry: JsonObject) -> list[str]:
    return [endpoint["address"] for endpoint in entry["spec"].get("endpoints") or []]


def endpoint_pods(entry: JsonObject) -> list[str]:
    return [
        (endpoint.get("labels") or {}).get(POD_NAME_LABEL, "")
        for endpoint in entry["spec"].get("endpoints") or []
    ]


class RawWorld:
    """Objects of one namespace created, changed and deleted as raw JSON through the API."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self._api = api
        # The client's stubs type bodies as models; at run time it sends dicts as they are.
        self._core: Any = CoreV1Api(api)
        self._discovery: Any = DiscoveryV1Api(api)
        self._custom: Any = CustomObjectsApi(api)

    # -- Services ----------------------------------------------------------------------------

    async def create_service(
        self,
        name: str,
        *,
        headless: bool = True,
        selector: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> JsonObject:
        """A Service with one ``http`` port; headless and without a selector unless told."""
        spec: JsonObject = {
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": HTTP_PORT}],
        }
        if headless:
            spec["clusterIP"] = "None"
        if selector is not None:
            spec["selector"] = dict(selector)
        metadata: JsonObject = {"name": name, "namespace": self.namespace}
        if annotations:
            metadata["annotations"] = dict(annotations)
        body = {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}
        created = await self._core.create_namespaced_service(self.namespace, body)
        return self._json(created)

    async def delete_service(self, name: str) -> None:
        await self._core.delete_namespaced_service(name, self.namespace)

    async def wait_for_service(self, name: str, *, present: bool) -> list[JsonObject]:
        return await watch_until(
            functools.partial(self._core.list_namespaced_service, self.namespace),
            lambda found: bool(found) is present,
            within=WAIT,
            what=f"Service {self.namespace}/{name} {'present' if present else 'gone'}",
            field_selector=f"metadata.name={name}",
        )

    # -- EndpointSlices ----------------------------------------------------------------------

    async def create_slice(
        self,
        name: str,
        *,
        service: str,
        endpoints: Iterable[JsonObject],
        address_type: str = "IPv4",
        ports: Iterable[JsonObject] = SLICE_PORTS,
    ) -> JsonObject:
        """An EndpointSlice of ``service``, written by hand (see the module docstring)."""
        body = {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "labels": {SERVICE_NAME_LABEL: service, MANAGED_BY_LABEL: HAND_WRITTEN},
            },
            "addressType": address_type,
            "endpoints": list(endpoints),
            "ports": list(ports),
        }
        created = await self._discovery.create_namespaced_endpoint_slice(self.namespace, body)
        return self._json(created)

    async def replace_slice_endpoints(self, name: str, endpoints: Iterable[JsonObject]) -> None:
        """A JSON merge patch of the slice's ``endpoints`` (the list is replaced whole)."""
        await self._discovery.patch_namespaced_endpoint_slice(
            name,
            self.namespace,
            {"endpoints": list(endpoints)},
            _content_type="application/merge-patch+json",
        )

    async def delete_slice(self, name: str) -> None:
        await self._discovery.delete_namespaced_endpoint_slice(name, self.namespace)

    # -- ServiceEntries ----------------------------------------------------------------------

    async def create_service_entry(
        self, name: str, *, spec: JsonObject, annotations: Mapping[str, str] | None = None
    ) -> JsonObject:
        body = self.service_entry_body(name, spec=spec, annotations=annotations)
        created: JsonObject = await self._custom.create_namespaced_custom_object(
            ISTIO_GROUP, ISTIO_VERSION, self.namespace, "serviceentries", body
        )
        return created

    def service_entry_body(
        self, name: str, *, spec: JsonObject, annotations: Mapping[str, str] | None = None
    ) -> JsonObject:
        metadata: JsonObject = {"name": name, "namespace": self.namespace}
        if annotations:
            metadata["annotations"] = dict(annotations)
        return {
            "apiVersion": f"{ISTIO_GROUP}/{ISTIO_VERSION}",
            "kind": "ServiceEntry",
            "metadata": metadata,
            "spec": spec,
        }

    async def delete_custom(self, plural: str, name: str) -> None:
        await self._custom.delete_namespaced_custom_object(
            ISTIO_GROUP, ISTIO_VERSION, self.namespace, plural, name
        )

    # -- raw bytes ---------------------------------------------------------------------------

    async def post_raw(self, plural: str, body: bytes) -> tuple[int, JsonObject]:
        """POST ``body`` as it is (any bytes) to the namespace's Istio ``plural``.

        The client would encode a Python string as valid UTF-8; a hand-made
        request, or a client with a bug, can send anything. Goes through the
        client's own session, so TLS and credentials are those of the cluster.
        """
        url = f"{self._api.configuration.host}/apis/{ISTIO_GROUP}/{ISTIO_VERSION}"
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        await self._api.update_params_for_auth(headers, [], ["BearerToken"])
        url += f"/namespaces/{self.namespace}/{plural}"
        session = self._api.rest_client.pool_manager
        async with session.post(url, data=body, headers=headers) as answer:
            found: JsonObject = orjson.loads(await answer.read())
            return answer.status, found

    def _json(self, model: Any) -> JsonObject:
        found: JsonObject = self._api.sanitize_for_serialization(model)
        return found
