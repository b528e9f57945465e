"""RBAC is least privilege: the shipped rules allow every call the controller makes, and no more.

A representative run against the simulator (entries repaired, a WorkloadEntry
with health checks, a paired Service created, updated and deleted, Events,
the Lease acquired, renewed and released on a graceful stop) records every
request the controller's user agent sent, named as RBAC names it
(``sim.requests``: verb, API group, resource, subresource). That set is
compared with the rules in ``deploy/kustomize/base``: every call is allowed,
and every allowed verb was used. The same world seen by a ``--dry-run``
replica needs only the observe-only rules, which hold no write verb.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler import running
from reconciler.api.client import USER_AGENT, KubeClient, load_configuration
from reconciler.config import RunSettings
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    HEALTH_CHECKS_ANNOTATION,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.simulator.faults import RequestRecord
from reconciler.testbed.manifests import NamedPort, headless_service_manifest
from reconciler.testbed.waiting import watch_until

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kustomize"
WAIT = 10.0
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
STALE_ADDRESS = "10.244.250.250"

Permission = tuple[str, str, str]
"""(API group, resource[/subresource], verb), as an RBAC rule grants it."""


def granted(rules: Iterable[dict[str, Any]]) -> set[Permission]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def rules_of(path: Path) -> list[dict[str, Any]]:
    (document,) = yaml.safe_load_all(path.read_text())
    rules: list[dict[str, Any]] = document["rules"]
    return rules


def observe_only_rules() -> list[dict[str, Any]]:
    """The observe-only overlay's ClusterRole: the base's, with its rules replaced by the patch."""
    (operation,) = yaml.safe_load(
        (DEPLOY / "components/read-only-cluster-role/read-only-clusterrole.yaml").read_text()
    )
    assert (operation["op"], operation["path"]) == ("replace", "/rules")
    rules: list[dict[str, Any]] = operation["value"]
    return rules


def used(requests: Iterable[RequestRecord], user_agent: str) -> set[Permission]:
    return {
        (r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
        for r in requests
        if r.user_agent == user_agent and r.resource
    }


class Run:
    """One controller with its own user agent; stopped gracefully (Lease released) at the end."""

    def __init__(self, cluster: Cluster, namespace: str, identity: str, **overrides: Any) -> None:
        self.user_agent = f"{USER_AGENT} ({identity})"
        self.settings = RunSettings(
            kubeconfig=cluster.kubeconfig,
            namespaces=(namespace,),
            removal_grace_seconds=0.5,
            leader_identity=identity,
            lease_namespace=namespace,
            **overrides,
        )
        self._cluster = cluster

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        configuration = await load_configuration(kubeconfig=str(self._cluster.kubeconfig))
        async with KubeClient(configuration, user_agent=self.user_agent) as client:
            controller = await running.build_controller(self.settings, client)
            task = asyncio.create_task(controller.run())
            try:
                async with asyncio.timeout(WAIT):
                    await controller.cache.synced.wait()
                yield controller
            finally:
                controller.stop()
                await asyncio.wait_for(task, WAIT)


async def _exercise_everything(
    api: ApiClient, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    """Entries repaired, a health-checked WorkloadEntry, a paired Service's whole life."""
    core: Any = CoreV1Api(api)
    pods = await statefulset(2)
    await istio.create_service_entry(
        "web-static",
        endpoints=[{"address": STALE_ADDRESS}],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.create_workload_entry(
        "web-1",
        address=STALE_ADDRESS,
        annotations={POD_ANNOTATION: "web-1", HEALTH_CHECKS_ANNOTATION: "true"},
    )
    await istio.wait_for_endpoints("web-static", [p.addresses[0] for p in pods.pods])
    await istio.wait_for_address("web-1", pods.pod(1).addresses[0])
    service = headless_service_manifest(
        "api", namespace=namespace, selector={"app": "api"}, ports=[NamedPort("grpc", 9090, "grpc")]
    )
    service["metadata"]["annotations"] = {GRPC_SERVICE_ANNOTATION: "true"}
    await core.create_namespaced_service(namespace, service)
    await _wait_for_service(core, namespace, "api-grpc", lambda found: bool(found))
    await core.patch_namespaced_service(
        "api",
        namespace,
        {"spec": {"ports": [{"name": "grpc", "port": 9091, "targetPort": 9091}]}},
        _content_type="application/merge-patch+json",
    )
    await _wait_for_service(
        core,
        namespace,
        "api-grpc",
        lambda found: bool(found) and found[0]["spec"]["ports"][0]["port"] == 9091,
    )
    await core.patch_namespaced_service(
        "api",
        namespace,
        {"metadata": {"annotations": {GRPC_SERVICE_ANNOTATION: None}}},
        _content_type="application/merge-patch+json",
    )
    await _wait_for_service(core, namespace, "api-grpc", lambda found: not found)
    await istio.wait_for_event(about="web-static", reason="EndpointsUpdated")


async def _wait_for_service(core: Any, namespace: str, name: str, until: Any) -> None:
    await watch_until(
        lambda **kwargs: core.list_namespaced_service(namespace, **kwargs),
        until,
        within=WAIT,
        what=f"Service {namespace}/{name}",
        field_selector=f"metadata.name={name}",
    )


async def test_the_cluster_role_and_lease_role_grant_exactly_what_the_controller_calls(
    cluster: Cluster,
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
) -> None:
    sim = cluster.require_simulator()
    run = Run(cluster, namespace, "rbac-writer", leader_elect=True)

    async with run.running():
        await _exercise_everything(api, namespace, statefulset, istio)

    calls = used(sim.requests, run.user_agent)
    leases = {call for call in calls if call[1] == "leases"}
    cluster_role = granted(rules_of(DEPLOY / "base/clusterrole.yaml"))
    lease_role = granted(rules_of(DEPLOY / "base/leader-election-role.yaml"))
    assert calls - leases <= cluster_role, "calls the ClusterRole does not allow"
    assert leases <= lease_role, "Lease calls the Role does not allow"
    assert cluster_role - calls == set(), "verbs granted but never used"
    assert lease_role - leases == set(), "Lease verbs granted but never used"
    (_, by_name) = rules_of(DEPLOY / "base/leader-election-role.yaml")
    named = {
        r.name
        for r in sim.requests
        if r.user_agent == run.user_agent and r.resource == "leases" and r.verb in ("get", "update")
    }
    assert named == set(by_name["resourceNames"])


async def test_a_dry_run_replica_needs_only_the_observe_only_rules_which_grant_no_write(
    cluster: Cluster,
    api: ApiClient,
    namespace: str,
    statefulset: StatefulSetStarter,
    istio: Istio,
) -> None:
    sim = cluster.require_simulator()
    observer = Run(cluster, namespace, "rbac-observer", dry_run=True)
    writer = Run(cluster, namespace, "rbac-writer", leader_elect=True)

    async with observer.running(), writer.running():
        await _exercise_everything(api, namespace, statefulset, istio)

    calls = used(sim.requests, observer.user_agent)
    allowed = granted(observe_only_rules())
    assert calls <= allowed
    assert {verb for _, _, verb in allowed} == {"list", "watch"}
    assert not [
        r for r in sim.requests if r.user_agent == observer.user_agent and r.verb in WRITE_VERBS
    ]
