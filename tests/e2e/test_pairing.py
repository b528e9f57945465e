"""Opted-in headless Services get a paired ClusterIP Service, owned by them (SPEC 2 to 4).

Each test starts the real controller against the ``cluster`` fixture and
changes the world only through the API: Services, their annotations, the
Namespace's label. The twin is watched for through the API too, so the same
tests run on a real cluster; only the write counts read the simulator's log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.api.client import USER_AGENT
from reconciler.applying.applier import Outcome
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.pairing import MANAGED_BY_LABEL, MANAGED_BY_VALUE, PORT_NAME_REASON
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    SOURCE_ANNOTATION,
)
from reconciler.testbed.addresses import IpFamilyMode
from reconciler.testbed.manifests import DEFAULT_PORTS, NamedPort, headless_service_manifest
from reconciler.testbed.waiting import watch_until

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import ControllerStarter, ControllerWrites, Istio, RunningController

pytestmark = pytest.mark.e2e

JsonObject = dict[str, Any]
MERGE_PATCH = "application/merge-patch+json"
ASKS = {GRPC_SERVICE_ANNOTATION: "true"}
WAIT = 10.0
COPIED_PORT_FIELDS = ("name", "port", "targetPort", "protocol", "appProtocol")


class Services:
    """The test namespace's Services, as JSON, through the API."""

    def __init__(self, api: ApiClient, namespace: str) -> None:
        self.namespace = namespace
        self._api = api
        # The client's stubs type bodies as models; at run time it sends dicts as they are.
        self._core: Any = CoreV1Api(api)

    def key(self, name: str) -> ObjectKey:
        return ObjectKey(Kind.SERVICE, self.namespace, name)

    async def create_headless(
        self,
        name: str = "web",
        *,
        annotations: dict[str, str] | None = None,
        ports: Iterable[NamedPort] = DEFAULT_PORTS,
        family: IpFamilyMode = "IPv4",
        with_selector: bool = True,
    ) -> JsonObject:
        body = headless_service_manifest(
            name, namespace=self.namespace, selector={"app": name}, ports=ports, family=family
        )
        body["metadata"]["annotations"] = annotations
        if not with_selector:
            del body["spec"]["selector"]
        return await self.create(body)

    async def create_cluster_ip(self, name: str, *, selector: dict[str, str]) -> JsonObject:
        """A plain ClusterIP Service, as a team would make by hand."""
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": self.namespace},
            "spec": {"selector": selector, "ports": [{"name": "http", "port": 80}]},
        }
        return await self.create(body)

    async def create(self, body: JsonObject) -> JsonObject:
        return self._json(await self._core.create_namespaced_service(self.namespace, body))

    async def get(self, name: str) -> JsonObject:
        return self._json(await self._core.read_namespaced_service(name, self.namespace))

    async def patch(self, name: str, patch: JsonObject) -> JsonObject:
        """A JSON merge patch, as ``kubectl patch --type merge`` sends it."""
        patched = await self._core.patch_namespaced_service(
            name, self.namespace, patch, _content_type=MERGE_PATCH
        )
        return self._json(patched)

    async def delete(self, name: str) -> None:
        await self._core.delete_namespaced_service(name, self.namespace)

    async def wait_for(
        self, name: str, until: Callable[[JsonObject], bool] = lambda _: True
    ) -> JsonObject:
        """The Service once it exists and ``until`` holds for it."""
        found = await self._watch(name, lambda services: any(until(s) for s in services))
        return next(service for service in found if until(service))

    async def wait_gone(self, name: str) -> None:
        await self._watch(name, lambda services: not services)

    async def _watch(
        self, name: str, until: Callable[[list[JsonObject]], bool]
    ) -> list[JsonObject]:
        return await watch_until(
            functools.partial(self._core.list_namespaced_service, self.namespace),
            until,
            within=WAIT,
            what=f"Service {self.namespace}/{name}",
            field_selector=f"metadata.name={name}",
        )

    def _json(self, model: Any) -> JsonObject:
        found: JsonObject = self._api.sanitize_for_serialization(model)
        return found


@pytest.fixture
def services(api: ApiClient, namespace: str) -> Services:
    return Services(api, namespace)


def copied_ports(service: JsonObject) -> list[JsonObject]:
    return [
        {field: port[field] for field in COPIED_PORT_FIELDS if field in port}
        for port in service["spec"]["ports"]
    ]


def follows(source: JsonObject) -> Callable[[JsonObject], bool]:
    """Whether a twin has the source's selector and ports."""

    def check(twin: JsonObject) -> bool:
        same_selector = twin["spec"].get("selector") == source["spec"].get("selector")
        return same_selector and copied_ports(twin) == copied_ports(source)

    return check


async def test_an_annotated_headless_service_gets_a_cluster_ip_twin_owned_by_it(
    services: Services, istio: Istio, controller: RunningController
) -> None:
    web = await services.create_headless(annotations=ASKS)

    twin = await services.wait_for("web-grpc")

    assert twin["spec"]["type"] == "ClusterIP"
    assert twin["spec"]["clusterIP"] not in (None, "", "None")
    assert twin["spec"]["selector"] == {"app": "web"}
    assert copied_ports(twin) == copied_ports(web)
    assert twin["metadata"]["labels"] == {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    assert twin["metadata"]["annotations"] == {SOURCE_ANNOTATION: "web"}
    assert twin["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": web["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    event = await istio.wait_for_event(about="web", reason="PairedServiceCreated")
    assert event["involvedObject"]["kind"] == "Service"
    assert event["involvedObject"]["uid"] == web["metadata"]["uid"]
    assert "web-grpc" in event["message"]


async def test_the_headless_service_changing_ports_and_selector_updates_the_twin_in_one_write(
    services: Services, controller_writes: ControllerWrites, controller: RunningController
) -> None:
    await services.create_headless(annotations=ASKS)
    await services.wait_for("web-grpc")
    await controller.reconciles.wait_for(services.key("web"), Outcome.NOOP)
    mark = controller_writes.mark()

    changed = await services.patch(
        "web",
        {
            "spec": {
                "selector": {"app": "web", "track": "stable"},
                "ports": [
                    {"name": "grpc", "port": 9090, "targetPort": 50051, "appProtocol": "grpc"},
                    {"name": "grpc-admin", "port": 9091, "targetPort": 9091},
                ],
            }
        },
    )

    await services.wait_for("web-grpc", follows(changed))
    writes = controller_writes(resource="services", after=mark)
    assert [(write.verb, write.name, write.code) for write in writes] == [
        ("patch", "web-grpc", 200)
    ]


async def test_deleting_the_headless_service_lets_the_garbage_collector_remove_the_twin(
    services: Services, controller: RunningController
) -> None:
    await services.create_headless(annotations=ASKS)
    await services.wait_for("web-grpc")

    await services.delete("web")

    await services.wait_gone("web-grpc")


async def test_removing_the_annotation_deletes_the_twin(
    services: Services, istio: Istio, controller: RunningController
) -> None:
    await services.create_headless(annotations=ASKS)
    await services.wait_for("web-grpc")

    await services.patch("web", {"metadata": {"annotations": {GRPC_SERVICE_ANNOTATION: None}}})

    await services.wait_gone("web-grpc")
    event = await istio.wait_for_event(about="web", reason="PairedServiceDeleted")
    assert GRPC_SERVICE_ANNOTATION in event["message"]


async def test_a_foreign_service_of_that_name_is_untouched_and_the_conflict_reported(
    cluster: Cluster, services: Services, istio: Istio, controller: RunningController
) -> None:
    theirs = await services.create_cluster_ip("web-grpc", selector={"app": "legacy"})

    await services.create_headless(annotations=ASKS)

    event = await istio.wait_for_event(about="web", reason="Conflict")
    await controller.reconciles.wait_for(services.key("web"), Outcome.REFUSED)
    assert event["type"] == "Warning"
    assert "web-grpc" in event["message"]
    after = await services.get("web-grpc")
    assert after["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"]
    if cluster.simulator is not None:
        log = cluster.simulator.store.write_log
        assert not [w for w in log if w.user_agent == USER_AGENT and w.name == "web-grpc"]


async def test_once_the_foreign_service_is_gone_the_twin_is_created(
    services: Services, controller: RunningController
) -> None:
    await services.create_cluster_ip("web-grpc", selector={"app": "legacy"})
    await services.create_headless(annotations=ASKS)
    await controller.reconciles.wait_for(services.key("web"), Outcome.REFUSED)

    await services.delete("web-grpc")

    twin = await services.wait_for(
        "web-grpc", lambda s: SOURCE_ANNOTATION in s["metadata"].get("annotations", {})
    )
    assert twin["spec"]["selector"] == {"app": "web"}


async def test_a_dual_stack_headless_service_gets_a_dual_stack_twin(
    services: Services, controller: RunningController
) -> None:
    try:
        web = await services.create_headless(annotations=ASKS, family="DualStack")
    except ApiException as error:
        if error.status == 422:
            pytest.skip("this cluster is not configured for dual-stack Services")
        raise

    twin = await services.wait_for("web-grpc")

    assert twin["spec"]["ipFamilies"] == web["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    assert twin["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    assert len(twin["spec"]["clusterIPs"]) == 2


async def test_a_headless_service_without_selector_is_reported_and_nothing_is_created(
    services: Services, istio: Istio, controller: RunningController
) -> None:
    await services.create_headless(annotations=ASKS, with_selector=False)

    event = await istio.wait_for_event(about="web", reason="NotReconcilable")
    await controller.reconciles.wait_for(services.key("web"), Outcome.REFUSED)

    assert "no selector" in event["message"]
    with pytest.raises(ApiException) as missing:
        await services.get("web-grpc")
    assert missing.value.status == 404


async def test_edits_to_the_twin_are_undone_and_labels_users_add_are_kept(
    services: Services, controller: RunningController
) -> None:
    web = await services.create_headless(annotations=ASKS)
    await services.wait_for("web-grpc")

    await services.patch(
        "web-grpc",
        {
            "metadata": {"labels": {"team": "payments"}, "annotations": {"note": "mine"}},
            "spec": {"selector": {"app": "web", "canary": "true"}},
        },
    )

    twin = await services.wait_for("web-grpc", follows(web))
    assert twin["metadata"]["labels"] == {MANAGED_BY_LABEL: MANAGED_BY_VALUE, "team": "payments"}
    assert twin["metadata"]["annotations"] == {SOURCE_ANNOTATION: "web", "note": "mine"}


async def test_a_managed_namespace_pairs_headless_services_with_a_grpc_port_and_warns_misnamed(
    api: ApiClient,
    namespace: str,
    services: Services,
    istio: Istio,
    controller: RunningController,
) -> None:
    await services.create_headless("web")
    await services.create_headless("metrics", ports=[NamedPort("http", 8080)])
    await services.create_headless("legacy", ports=[NamedPort("api", 50051)])
    mark = controller.reconciles.mark()

    await CoreV1Api(api).patch_namespace(
        namespace, {"metadata": {"labels": {MANAGED_NAMESPACE_LABEL: MANAGED_NAMESPACE_VALUE}}}
    )

    await services.wait_for("web-grpc")
    warning = await istio.wait_for_event(about="legacy", reason=PORT_NAME_REASON)
    assert "port api (50051)" in warning["message"]
    await controller.reconciles.wait_for(services.key("metrics"), Outcome.NOOP, after=mark)
    for name in ("metrics-grpc", "legacy-grpc"):
        with pytest.raises(ApiException):
            await services.get(name)


async def test_two_services_asking_for_one_name_both_conflict_until_one_lets_go(
    services: Services, istio: Istio, start_controller: ControllerStarter
) -> None:
    shared = {GRPC_SERVICE_ANNOTATION: "shared-grpc"}
    await services.create_headless("web", annotations=shared)
    await services.create_headless("api", annotations=shared)
    running = await start_controller()

    for name in ("web", "api"):
        event = await istio.wait_for_event(about=name, reason="Conflict")
        assert "asked for by api, web" in event["message"]
        await running.reconciles.wait_for(services.key(name), Outcome.REFUSED)
    with pytest.raises(ApiException) as missing:
        await services.get("shared-grpc")
    assert missing.value.status == 404
    await services.patch("api", {"metadata": {"annotations": {GRPC_SERVICE_ANNOTATION: None}}})

    twin = await services.wait_for("shared-grpc")
    assert twin["metadata"]["annotations"][SOURCE_ANNOTATION] == "web"


async def test_a_paired_namespace_is_quiet_over_resyncs_warnings_and_conflicts_included(
    services: Services,
    istio: Istio,
    controller_writes: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    misnamed = [*DEFAULT_PORTS, NamedPort("api", 50051)]
    await services.create_headless(annotations=ASKS, ports=misnamed)
    await services.create_cluster_ip("taken", selector={"app": "legacy"})
    await services.create_headless("api", annotations={GRPC_SERVICE_ANNOTATION: "taken"})
    running = await start_controller(resync_seconds=0.05)
    await services.wait_for("web-grpc")
    await istio.wait_for_event(about="web", reason=PORT_NAME_REASON)
    await istio.wait_for_event(about="api", reason="Conflict")
    await running.reconciles.wait_for(services.key("web"), Outcome.NOOP)
    quiet_since = controller_writes.mark()
    reconciles_since = running.reconciles.mark()

    keys = [services.key(name) for name in ("web", "web-grpc", "api", "taken")]
    await running.reconciles.wait_for_rounds(keys, rounds=5, after=reconciles_since)

    assert controller_writes(after=quiet_since) == [], "no write, and no Event said twice"


async def test_the_name_template_flag_names_the_twin(
    services: Services, start_controller: ControllerStarter
) -> None:
    await start_controller(paired_name_template="{name}-h2")

    await services.create_headless(annotations=ASKS)

    await services.wait_for("web-h2")


async def test_dry_run_reports_the_twin_it_would_create_and_writes_nothing(
    cluster: Cluster, services: Services, start_controller: ControllerStarter
) -> None:
    log = cluster.simulator.store.write_log if cluster.simulator is not None else []
    started_at = len(log)
    running = await start_controller(dry_run=True)

    await services.create_headless(annotations=ASKS)

    planned = await running.reconciles.wait_for(services.key("web-grpc"), Outcome.DRY_RUN)
    assert "created paired Service web-grpc" in planned.message
    with pytest.raises(ApiException) as missing:
        await services.get("web-grpc")
    assert missing.value.status == 404
    assert [write for write in log[started_at:] if write.user_agent == USER_AGENT] == []
