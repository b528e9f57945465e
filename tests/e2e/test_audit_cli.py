"""``headless-reconciler audit`` against a cluster: a recycled IP found, a clean world passes.

The recycled-IP danger is made on purpose: pod web-1 restarts (new IP), then
pod db-0 of another StatefulSet restarts and is given web-1's old address, as
a cluster's IPAM may do. A hand-kept ServiceEntry written before all this now
sends web-1's traffic to db-0.
"""

from __future__ import annotations

from io import StringIO
from typing import TYPE_CHECKING

import orjson
import pytest
from kubernetes_asyncio.client import ApiClient

from reconciler.config import AuditSettings
from reconciler.planning.references import POD_ANNOTATION
from reconciler.reporting.commands import ExitCode, run_audit
from reconciler.testbed.addresses import PodIpAllocator
from reconciler.testbed.waiting import wait_for_ready_addresses

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e


async def audit(cluster: Cluster, namespace: str, *, output: str = "text") -> tuple[int, str]:
    settings = AuditSettings(kubeconfig=cluster.kubeconfig, namespaces=(namespace,), output=output)
    out, err = StringIO(), StringIO()
    code = await run_audit(settings, out=out, err=err)
    assert err.getvalue() == ""
    return code, out.getvalue()


async def test_a_clean_world_exits_0(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    pods = await statefulset(2)
    await istio.create_service_entry(
        "hand-kept", endpoints=[istio.endpoint_of(pods, 0), istio.endpoint_of(pods, 1)]
    )
    await istio.create_workload_entry(
        "web-1", address=pods.pod(1).addresses[0], annotations={POD_ANNOTATION: "web-1"}
    )

    code, out = await audit(cluster, namespace)

    assert code == ExitCode.CLEAN
    assert out.startswith("ServiceEntry")  # advice only: it could use a workloadSelector
    assert "No stale or recycled addresses (1 ServiceEntry, 1 WorkloadEntry checked)" in out


async def test_a_recycled_address_in_a_hand_kept_entry_is_found_with_the_pod_it_meant(
    cluster: Cluster,
    namespace: str,
    api: ApiClient,
    statefulset: StatefulSetStarter,
    istio: Istio,
) -> None:
    addresses = PodIpAllocator()
    web = await statefulset(2, allocator=addresses)
    db = await statefulset(1, name="db", allocator=addresses)
    await istio.create_service_entry(
        "hand-kept", endpoints=[istio.endpoint_of(web, 0), istio.endpoint_of(web, 1)]
    )
    old = web.pod(1).addresses[0]
    new = (await web.restart(1)).addresses[0]
    await db.restart(0, reuse_ip_of="web-1")
    for pods in (web, db):
        await wait_for_ready_addresses(
            api, namespace=namespace, service=pods.service_name, expected=pods.ready_addresses()
        )

    code, out = await audit(cluster, namespace, output="json")

    assert code == ExitCode.FOUND
    document = orjson.loads(out)
    (entry,) = [e for e in document["entries"] if e["name"] == "hand-kept"]
    (finding,) = entry["findings"]
    assert finding["problem"] == "recycled"
    assert finding["address"] == old
    assert finding["heldBy"] == {"namespace": namespace, "name": "db-0", "address": old}
    assert finding["meant"] == [{"namespace": namespace, "name": "web-1", "address": new}]
    assert entry["fix"]["annotations"] == {"headless-reconciler.io/service": "web"}
    assert document["summary"]["unmanagedStale"] == 1
