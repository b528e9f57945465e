"""Corpus, ServiceEntries of odd shapes: each reported clearly, none written invalidly (issue 9).

One test per case, named for the case and its outcome. Each runs the real
controller against the ``cluster`` fixture, creates the input through the
API, waits until the controller has looked at it (``Reconciles.wait_for``),
then asserts what the user is told (Event reason and message; the
``Outcome`` is the ``result`` label of ``headless_reconciler_reconcile_total``)
and that nothing invalid or unexpected was written: the object's
``resourceVersion`` where it must be unchanged, the simulator's write log
where it is there. The corpus conftest fails any test in which the
controller logged an error or a traceback.
"""

from __future__ import annotations

from io import StringIO
from typing import TYPE_CHECKING

import pytest
from corpus_world import (
    address_of,
    endpoint_addresses,
    endpoint_pods,
    labelled_endpoint,
    pod_endpoints,
    static_spec,
)
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.applying.applier import Outcome
from reconciler.config import DiffSettings
from reconciler.planning.references import (
    MANAGED_NAMESPACE_LABEL,
    MANAGED_NAMESPACE_VALUE,
    SERVICE_ANNOTATION,
)
from reconciler.reporting.commands import run_diff

if TYPE_CHECKING:
    from corpus_world import JsonObject, RawWorld

    from reconciler.testbed.statefulsets import StatefulPodSet
    from tests.conftest import Cluster
    from tests.e2e.conftest import (
        ControllerStarter,
        ControllerWrites,
        Istio,
        RunningController,
        StatefulSetStarter,
    )

pytestmark = pytest.mark.e2e

MANAGED = {SERVICE_ANNOTATION: "web"}
STALE = "10.244.250.250"
"""An address no pod of these tests ever gets."""


def pod_addresses(pods: StatefulPodSet) -> list[str]:
    return [pod.addresses[0] for pod in pods.pods]


async def diff_output(cluster: Cluster, namespace: str) -> str:
    out, err = StringIO(), StringIO()
    await run_diff(
        DiffSettings(kubeconfig=cluster.kubeconfig, namespaces=(namespace,)), out=out, err=err
    )
    return out.getvalue()


async def assert_unchanged(istio: Istio, written_by: ControllerWrites, created: JsonObject) -> None:
    name = created["metadata"]["name"]
    now = await istio.get_service_entry(name)
    assert now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert now["spec"] == created["spec"]
    assert written_by(resource="serviceentries", name=name) == []


async def test_dns_resolution_entry_is_reported_not_reconcilable_and_never_written(
    cluster: Cluster,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    await statefulset(2)
    spec = static_spec(
        [istio.host("web")], resolution="DNS", endpoints=[{"address": "web.example.com"}]
    )

    created = await raw.create_service_entry("web-dns", spec=spec, annotations=MANAGED)

    applied = await controller.reconciles.wait_for(istio.service_entry_key("web-dns"))
    event = await istio.wait_for_event(about="web-dns", reason="NotReconcilable")
    reason = "its resolution is DNS: only STATIC ServiceEntries list pod addresses"
    assert (applied.outcome, applied.message) == (Outcome.REFUSED, reason)
    assert (event["type"], event["message"]) == ("Warning", reason)
    await assert_unchanged(istio, written_by, created)
    assert f"ServiceEntry {namespace}/web-dns: not reconcilable: {reason}" in (
        await diff_output(cluster, namespace)
    )


async def test_workload_selector_entry_is_reported_not_reconcilable_and_never_written(
    cluster: Cluster,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    await statefulset(2)
    spec = static_spec([istio.host("web")], workloadSelector={"labels": {"app": "web"}})

    created = await raw.create_service_entry("web-selected", spec=spec, annotations=MANAGED)

    applied = await controller.reconciles.wait_for(istio.service_entry_key("web-selected"))
    event = await istio.wait_for_event(about="web-selected", reason="NotReconcilable")
    reason = "it has a workloadSelector: istiod picks its endpoints, there is no list to keep"
    assert (applied.outcome, applied.message) == (Outcome.REFUSED, reason)
    assert (event["type"], event["message"]) == ("Warning", reason)
    await assert_unchanged(istio, written_by, created)
    assert f"ServiceEntry {namespace}/web-selected: not reconcilable: {reason}" in (
        await diff_output(cluster, namespace)
    )


async def test_entry_without_ports_gets_its_pods_with_no_port_maps(
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    controller: RunningController,
) -> None:
    pods = await statefulset(2)
    spec = static_spec(
        [istio.host("web")], ports=None, endpoints=[labelled_endpoint(STALE, "web-0")]
    )

    await raw.create_service_entry("web-portless", spec=spec, annotations=MANAGED)

    entry = await istio.wait_for_endpoints("web-portless", pod_addresses(pods))
    event = await istio.wait_for_event(about="web-portless", reason="EndpointsUpdated")
    assert "ports" not in entry["spec"]
    assert [sorted(endpoint) for endpoint in entry["spec"]["endpoints"]] == [
        ["address", "labels"],
        ["address", "labels"],
    ]
    web0, web1 = pod_addresses(pods)
    assert event["message"] == f"web-0: {STALE} -> {web0}; web-1: added {web1}"


async def test_duplicate_hosts_name_one_service_and_the_entry_is_written_once(
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    controller: RunningController,
) -> None:
    pods = await statefulset(2)
    await CoreV1Api(api).patch_namespace(
        namespace, {"metadata": {"labels": {MANAGED_NAMESPACE_LABEL: MANAGED_NAMESPACE_VALUE}}}
    )
    key = istio.service_entry_key("web-twice")
    hosts = ["web", istio.host("web"), "web", istio.host("web")]
    spec = static_spec(hosts, endpoints=[labelled_endpoint(STALE, "web-0")])

    await raw.create_service_entry("web-twice", spec=spec)

    updated = await controller.reconciles.wait_for(key, Outcome.UPDATED)
    # The look that follows the write (its own watch event) finds nothing to do; it may
    # already have been reported by the time this test runs again.
    after_write = controller.reconciles.results.index(updated) + 1
    await controller.reconciles.wait_for(key, Outcome.NOOP, after=after_write)
    entry = await istio.get_service_entry("web-twice")
    assert entry["spec"]["hosts"] == hosts, "the user's hosts are left as they are"
    assert endpoint_addresses(entry) == pod_addresses(pods)
    assert Outcome.REFUSED not in controller.reconciles.outcomes(key)
    if written_by.log:
        assert len(written_by(resource="serviceentries", name="web-twice")) == 1


async def test_more_than_4096_desired_endpoints_are_refused_and_the_entry_keeps_its_list(
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    await raw.create_service("big")
    for number in range(4):
        endpoints = pod_endpoints(1000, start=number * 1000)
        await raw.create_slice(f"big-{number}", service="big", endpoints=endpoints)
    await raw.create_slice("big-4", service="big", endpoints=pod_endpoints(97, start=4000))
    spec = static_spec([istio.host("big")], endpoints=[labelled_endpoint(address_of(0), "big-0")])
    created = await raw.create_service_entry(
        "big-all", spec=spec, annotations={SERVICE_ANNOTATION: "big"}
    )
    key = istio.service_entry_key("big-all")

    running = await start_controller()

    applied = await running.reconciles.wait_for(key)
    event = await istio.wait_for_event(about="big-all", reason="Refused")
    reason = "4097 endpoints wanted; Istio allows at most 4096 per ServiceEntry"
    assert (applied.outcome, applied.message) == (Outcome.REFUSED, reason)
    assert (event["type"], event["message"]) == ("Warning", reason)
    await assert_unchanged(istio, written_by, created)

    await raw.delete_slice("big-4")

    entry = await istio.wait_for_endpoints("big-all", [address_of(index) for index in range(4000)])
    assert endpoint_pods(entry) == [f"big-{index}" for index in range(4000)]


async def test_endpoint_port_keys_naming_no_port_are_kept_and_none_are_invented(
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    controller: RunningController,
) -> None:
    pods = await statefulset(2)
    spec = static_spec(
        [istio.host("web")],
        endpoints=[labelled_endpoint(STALE, "web-0", ports={"metrics": 9100})],
    )

    await raw.create_service_entry("web-ports", spec=spec, annotations=MANAGED)

    entry = await istio.wait_for_endpoints("web-ports", pod_addresses(pods))
    web0, web1 = entry["spec"]["endpoints"]
    assert web0["ports"] == {"metrics": 9100}, "the user's key is the user's to fix"
    assert web1["ports"] == {"http": 8080}, "only ports the entry declares are mapped"


async def test_endpoint_port_keys_istiods_webhook_rejects_are_refused_once_not_retried(
    cluster: Cluster,
    statefulset: StatefulSetStarter,
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    sim = cluster.require_simulator()
    await statefulset(2)
    spec = static_spec(
        [istio.host("web")],
        endpoints=[labelled_endpoint(STALE, "web-0", ports={"metrics": 9100})],
    )
    # Created while the webhook was not answering (Istio installs it failing open).
    created = await raw.create_service_entry("web-ports", spec=spec, annotations=MANAGED)
    sim.settings.istio_webhook = True
    key = istio.service_entry_key("web-ports")

    running = await start_controller(resync_seconds=0.05)

    applied = await running.reconciles.wait_for(key)
    assert applied.outcome is Outcome.REFUSED, applied
    event = await istio.wait_for_event(about="web-ports", reason="Refused")
    assert "endpoint port 9100 is not defined by the service entry" in event["message"]
    await running.reconciles.wait_for_rounds([key], rounds=3, after=running.reconciles.mark())
    assert len(written_by(resource="serviceentries", name="web-ports")) == 1
    now = await istio.get_service_entry("web-ports")
    assert now["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
