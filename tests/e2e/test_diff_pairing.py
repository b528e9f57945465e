"""``diff`` on paired Services against a cluster: what it reports, and that its requests work.

A headless Service that asks for a twin makes ``diff`` exit 1 with the
twin's creation; once ``run`` (or someone replaying ``diff -o json``'s
requests, method, path, content type and body as printed) has created it,
``diff`` exits 0. Runs against the simulator, and against a real cluster when
``HEADLESS_RECONCILER_E2E_KUBECONFIG`` is set.
"""

from __future__ import annotations

import functools
from io import StringIO
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from kubernetes_asyncio.client import ApiClient, CoreV1Api

from reconciler.config import DiffSettings
from reconciler.planning.references import GRPC_SERVICE_ANNOTATION
from reconciler.reporting.commands import ExitCode, run_diff
from reconciler.testbed.manifests import headless_service_manifest
from reconciler.testbed.waiting import watch_until

if TYPE_CHECKING:
    from tests.conftest import Cluster
    from tests.e2e.conftest import ControllerStarter

pytestmark = pytest.mark.e2e

JsonObject = dict[str, Any]
ASKS = {GRPC_SERVICE_ANNOTATION: "true"}
WAIT = 10.0


async def diff(cluster: Cluster, namespace: str, **flags: Any) -> tuple[int, str, str]:
    out, err = StringIO(), StringIO()
    settings = DiffSettings(kubeconfig=cluster.kubeconfig, namespaces=(namespace,), **flags)
    code = await run_diff(settings, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


async def create_headless(api: ApiClient, namespace: str, *, annotations: JsonObject) -> None:
    body = headless_service_manifest("web", namespace=namespace, selector={"app": "web"})
    body["metadata"]["annotations"] = annotations
    await CoreV1Api(api).create_namespaced_service(namespace, body)


async def send(api: ApiClient, request: JsonObject) -> None:
    """One request of ``diff -o json``, exactly as printed, as any HTTP client would send it."""
    response = await api.call_api(
        request["path"],
        request["method"],
        header_params={"Accept": "application/json", "Content-Type": request["contentType"]},
        body=request["body"],
        auth_settings=["BearerToken"],
        _preload_content=False,
    )
    try:
        assert 200 <= response.status < 300, await response.text()
    finally:
        response.release()


async def wait_for_services(api: ApiClient, namespace: str, names: set[str]) -> None:
    await watch_until(
        functools.partial(CoreV1Api(api).list_namespaced_service, namespace),
        lambda services: {s["metadata"]["name"] for s in services} == names,
        within=WAIT,
        what=f"Services {sorted(names)} in {namespace}",
    )


async def test_diff_reports_the_twin_to_create_then_nothing_once_run_created_it(
    cluster: Cluster, namespace: str, api: ApiClient, start_controller: ControllerStarter
) -> None:
    await create_headless(api, namespace, annotations=ASKS)

    code, out, err = await diff(cluster, namespace)

    assert (code, err) == (ExitCode.FOUND, "")
    assert f"Service {namespace}/web-grpc: create: paired Service for headless Service web\n" in out
    assert f"--- Service {namespace}/web-grpc (absent)\n" in out
    assert "+  name: web-grpc\n" in out
    assert out.endswith("1 Service would change\n")

    await start_controller()
    await wait_for_services(api, namespace, {"web", "web-grpc"})

    assert await diff(cluster, namespace) == (
        ExitCode.CLEAN,
        "No changes (2 Services checked)\n",
        "",
    )


async def test_replaying_the_json_requests_creates_and_later_deletes_the_twin(
    cluster: Cluster, namespace: str, api: ApiClient
) -> None:
    await create_headless(api, namespace, annotations=ASKS)

    code, out, _ = await diff(cluster, namespace, output="json")
    (created,) = orjson.loads(out)["objects"]
    for request in created["patches"]:
        await send(api, request)

    assert code == ExitCode.FOUND
    assert created["action"] == "create_paired_service"
    assert [r["method"] for r in created["patches"]] == ["POST"]
    assert (await diff(cluster, namespace))[0] == ExitCode.CLEAN

    await CoreV1Api(api).patch_namespaced_service(
        "web",
        namespace,
        {"metadata": {"annotations": {GRPC_SERVICE_ANNOTATION: None}}},
        _content_type="application/merge-patch+json",
    )
    code, out, _ = await diff(cluster, namespace, output="json")
    (deleted,) = orjson.loads(out)["objects"]
    (request,) = deleted["patches"]
    await send(api, request)

    assert code == ExitCode.FOUND
    assert deleted["action"] == "delete_paired_service"
    assert request["method"] == "DELETE"
    assert set(request["body"]["preconditions"]) == {"uid", "resourceVersion"}
    await wait_for_services(api, namespace, {"web"})
    assert (await diff(cluster, namespace))[0] == ExitCode.CLEAN


async def test_a_foreign_service_of_the_twins_name_is_a_conflict_but_not_drift(
    cluster: Cluster, namespace: str, api: ApiClient
) -> None:
    await CoreV1Api(api).create_namespaced_service(
        namespace,
        {
            "metadata": {"name": "web-grpc"},
            "spec": {"selector": {"app": "web"}, "ports": [{"name": "grpc", "port": 9090}]},
        },
    )
    await create_headless(api, namespace, annotations=ASKS)

    code, out, _ = await diff(cluster, namespace)

    assert code == ExitCode.CLEAN, "run would change nothing"
    assert f"Service {namespace}/web: conflict: Service {namespace}/web-grpc exists" in out
    assert out.endswith("Nothing would change now; 1 in conflict\n")
