"""``headless-reconciler diff`` against a cluster: exit codes, output, and no writes.

Runs against the simulator always and against a real cluster when
``HEADLESS_RECONCILER_E2E_KUBECONFIG`` is set; the checks that need the
simulator (its write log, fault injection) skip there. Most tests call the
command's own coroutine (``run_diff``), exactly what the CLI runs after
parsing flags; one runs the installed command line in a subprocess.
"""

from __future__ import annotations

import asyncio
import sys
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import yaml
from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.config import DiffSettings
from reconciler.planning.references import POD_ANNOTATION, SERVICE_ANNOTATION
from reconciler.reporting.commands import ExitCode, run_diff

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e

MANAGED = {SERVICE_ANNOTATION: "web"}
STALE = "10.244.250.250"


async def run_diff_with(settings: DiffSettings) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    code = await run_diff(settings, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def diff(cluster: Cluster, namespace: str, **flags: Any) -> tuple[int, str, str]:
    """``diff -n <namespace>`` with ``flags`` (DiffSettings fields)."""
    return await run_diff_with(
        DiffSettings(kubeconfig=cluster.kubeconfig, namespaces=(namespace,), **flags)
    )


async def test_a_world_in_sync_exits_0(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    pods = await statefulset(3)
    endpoints = [istio.endpoint_of(pods, i) for i in range(3)]
    await istio.create_service_entry("web-static", endpoints=endpoints, annotations=MANAGED)

    code, out, err = await diff(cluster, namespace)

    assert (code, err) == (ExitCode.CLEAN, "")
    assert out == "No changes (1 ServiceEntry, 1 Service checked)\n"


async def test_drift_exits_1_with_a_header_and_a_unified_diff_per_object(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    pods = await statefulset(2)
    await istio.create_service_entry(
        "web-static",
        endpoints=[istio.endpoint_of(pods, 0), {**istio.endpoint_of(pods, 1), "address": STALE}],
        annotations=MANAGED,
    )
    await istio.create_workload_entry("web-1", address=STALE, annotations={POD_ANNOTATION: "web-1"})
    now = pods.pod(1).addresses[0]

    code, out, _ = await diff(cluster, namespace)

    assert code == ExitCode.FOUND
    assert f"ServiceEntry {namespace}/web-static: update endpoints: web-1: {STALE} -> {now}" in out
    assert f"WorkloadEntry {namespace}/web-1: update address: web-1: {STALE} -> {now}" in out
    assert f"-  - address: {STALE}\n+  - address: {now}\n" in out
    assert f"-  address: {STALE}\n+  address: {now}\n" in out
    assert out.endswith("1 ServiceEntry, 1 WorkloadEntry would change\n")


async def test_sending_the_json_patches_leaves_nothing_to_diff(
    cluster: Cluster,
    namespace: str,
    api: ApiClient,
    statefulset: StatefulSetStarter,
    istio: Istio,
) -> None:
    await statefulset(3)
    await istio.create_service_entry(
        "web-static", endpoints=[{"address": STALE}], annotations=MANAGED
    )
    await istio.create_workload_entry("web-2", address=STALE, annotations={POD_ANNOTATION: "web-2"})

    code, out, _ = await diff(cluster, namespace, output="json")
    document = orjson.loads(out)
    custom: Any = CustomObjectsApi(api)
    for obj in document["objects"]:
        plural = "serviceentries" if obj["kind"] == "ServiceEntry" else "workloadentries"
        for patch in obj["patches"]:
            await custom.patch_namespaced_custom_object(
                "networking.istio.io",
                "v1",
                obj["namespace"],
                plural,
                obj["name"],
                patch["body"],
                _content_type=patch["contentType"],
            )

    assert code == ExitCode.FOUND
    assert document["drift"] is True
    assert len(document["objects"]) == 2
    assert await diff(cluster, namespace) == (
        ExitCode.CLEAN,
        "No changes (1 ServiceEntry, 1 WorkloadEntry, 1 Service checked)\n",
        "",
    )


async def test_diff_sends_no_write_at_all(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    sim = cluster.require_simulator()
    await statefulset(1)
    await istio.create_service_entry(
        "web-static", endpoints=[{"address": STALE}], annotations=MANAGED
    )
    before = len(sim.store.write_log)

    code, _, _ = await diff(cluster, namespace)

    assert code == ExitCode.FOUND
    assert sim.store.write_log[before:] == []


async def test_the_selector_narrows_the_entries_looked_at(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    await statefulset(1)
    for name, team in (("team-a", "a"), ("team-b", "b")):
        await istio.create_service_entry(name, endpoints=[{"address": STALE}], annotations=MANAGED)
        await istio.patch_service_entry(name, {"metadata": {"labels": {"team": team}}})

    code, out, _ = await diff(cluster, namespace, selector="team=a")

    assert code == ExitCode.FOUND
    assert f"ServiceEntry {namespace}/team-a:" in out
    assert "team-b" not in out


async def test_refusals_are_listed_with_their_reason(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    await statefulset(1)
    await istio.create_service_entry(
        "elsewhere", endpoints=[{"address": STALE}], annotations={SERVICE_ANNOTATION: "other/web"}
    )

    code, out, _ = await diff(cluster, namespace)

    assert code == ExitCode.CLEAN, "a refusal with no drift known is not drift"
    assert f"ServiceEntry {namespace}/elsewhere: refused: " in out
    assert f"--allow-cross-namespace {namespace}=other" in out


async def test_a_forbidden_list_exits_4_naming_the_resource(
    cluster: Cluster, namespace: str
) -> None:
    cluster.require_simulator().faults.forbid("list", "serviceentries")

    code, out, err = await diff(cluster, namespace)

    assert code == ExitCode.DENIED
    assert out == ""
    assert err.startswith("error: not allowed to list serviceentries.networking.istio.io ")
    assert "403 Forbidden" in err
    assert err.count("\n") == 1


async def test_credentials_the_server_refuses_exit_4(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    cluster.require_simulator()
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"]["token"] = "not-the-token"
    wrong = tmp_path / "wrong-token"
    wrong.write_text(yaml.safe_dump(config))

    code, _, err = await run_diff_with(DiffSettings(kubeconfig=wrong, namespaces=(namespace,)))

    assert code == ExitCode.DENIED
    assert "did not accept the credentials (401 Unauthorized)" in err


async def test_the_command_line_exits_1_on_drift_and_prints_the_plan(
    cluster: Cluster, namespace: str, statefulset: StatefulSetStarter, istio: Istio
) -> None:
    await statefulset(1)
    await istio.create_service_entry(
        "web-static", endpoints=[{"address": STALE}], annotations=MANAGED
    )

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reconciler",
        "diff",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "-n",
        namespace,
        "-o",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 30)

    assert process.returncode == ExitCode.FOUND, err.decode()
    document = orjson.loads(out)
    assert [obj["name"] for obj in document["objects"]] == ["web-static"]
    assert err == b"", "no progress or colour when not on a terminal"
