"""The kustomize base and overlays: rendered by a real kustomize, valid, hardened, least privilege.

What SPEC section 7 asks of ``deploy/``, checked on the rendered objects, the
way ``kubectl apply -k`` would send them.
"""

from __future__ import annotations

from typing import Any

import pytest

from .manifests import (
    INSTALL_NAMESPACE,
    KUSTOMIZE,
    Manifest,
    args,
    by_ident,
    kustomize,
    one,
    rules,
    schema_errors,
)

OVERLAYS = {
    "base": KUSTOMIZE / "base",
    "namespace-scoped": KUSTOMIZE / "overlays" / "namespace-scoped",
    "observe-only": KUSTOMIZE / "overlays" / "observe-only",
}
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection", "*"})


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return kustomize(OVERLAYS[request.param])


@pytest.fixture(scope="module")
def base() -> list[Manifest]:
    return kustomize(OVERLAYS["base"])


def container(objects: list[Manifest]) -> dict[str, Any]:
    (found,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return found


def test_every_object_is_valid_against_the_kubernetes_openapi_schemas(
    rendered: list[Manifest],
) -> None:
    assert schema_errors(rendered) == []


def test_every_object_is_unique_and_lives_in_the_install_namespace_or_the_cluster(
    rendered: list[Manifest],
) -> None:
    for (kind, namespace, _), _ in by_ident(rendered).items():
        if kind in ("Namespace", "ClusterRole", "ClusterRoleBinding"):
            assert namespace == ""
        elif kind not in ("Role", "RoleBinding"):
            assert namespace == INSTALL_NAMESPACE


def test_the_base_has_every_object_spec_section_7_lists(base: list[Manifest]) -> None:
    assert sorted(m["kind"] for m in base) == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "NetworkPolicy",
            "ServiceMonitor",
            "PrometheusRule",
        ]
    )


def test_two_replicas_with_a_budget_that_keeps_one(base: list[Manifest]) -> None:
    deployment = one(base, "Deployment")
    budget = one(base, "PodDisruptionBudget")

    assert deployment["spec"]["replicas"] == 2
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"] == deployment["spec"]["selector"]


def test_the_pod_runs_non_root_read_only_without_capabilities_under_seccomp(
    rendered: list[Manifest],
) -> None:
    pod = one(rendered, "Deployment")["spec"]["template"]["spec"]
    security = container(rendered)["securityContext"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}


def test_probes_requests_and_limits(base: list[Manifest]) -> None:
    controller = container(base)
    (port,) = controller["ports"]

    assert (port["name"], port["containerPort"]) == ("metrics", 8080)
    assert controller["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert controller["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert set(controller["resources"]["requests"]) == {"cpu", "memory"}
    assert set(controller["resources"]["limits"]) == {"cpu", "memory"}


def test_the_lease_namespace_is_the_pod_s_own(base: list[Manifest]) -> None:
    env = {item["name"]: item for item in container(base)["env"]}

    assert env["HEADLESS_RECONCILER_LEASE_NAMESPACE"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}
    }


def test_the_network_policy_admits_only_scraping_and_lets_out_only_api_server_traffic(
    base: list[Manifest],
) -> None:
    policy = one(base, "NetworkPolicy")["spec"]

    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert "ipBlock" not in str(ingress["from"])
    (egress,) = policy["egress"]
    assert {port["port"] for port in egress["ports"]} == {443, 6443}


def test_the_service_monitor_scrapes_the_metrics_port_of_the_metrics_service(
    base: list[Manifest],
) -> None:
    service = one(base, "Service")
    monitor = one(base, "ServiceMonitor")["spec"]

    assert service["metadata"]["name"] == "headless-reconciler", "the alerts select this job"
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["endpoints"]] == [
        p["name"] for p in service["spec"]["ports"]
    ]
    assert service["spec"]["selector"] == one(base, "Deployment")["spec"]["selector"]["matchLabels"]


def test_the_lease_role_reaches_only_the_controller_s_lease(base: list[Manifest]) -> None:
    lease_rules = [rule for role, rule in rules(base) if role["kind"] == "Role"]

    assert all(rule["resources"] == ["leases"] for rule in lease_rules)
    assert [rule.get("resourceNames") for rule in lease_rules if rule["verbs"] != ["create"]] == [
        ["headless-reconciler"]
    ]


def test_the_observe_only_overlay_grants_no_write_verb_and_runs_dry_run() -> None:
    objects = kustomize(OVERLAYS["observe-only"])

    verbs = {verb for _, rule in rules(objects) for verb in rule["verbs"]}
    assert verbs == {"list", "watch"}
    assert not [m for m in objects if m["kind"] in ("Role", "RoleBinding")]
    assert args(objects) == ["run", "--dry-run"]


def test_the_namespace_scoped_overlay_writes_only_through_roles_in_its_namespaces() -> None:
    objects = kustomize(OVERLAYS["namespace-scoped"])

    cluster_verbs = {
        v for role, rule in rules(objects) if role["kind"] == "ClusterRole" for v in rule["verbs"]
    }
    assert cluster_verbs == {"list", "watch"}
    writing = {
        role["metadata"]["namespace"]
        for role, rule in rules(objects)
        if role["kind"] == "Role"
        and WRITE_VERBS & set(rule["verbs"])
        and "leases" not in rule["resources"]
    }
    scoped = {
        arg.removeprefix("--namespace=") for arg in args(objects) if arg.startswith("--namespace=")
    }
    assert writing == scoped == {"team-a", "team-b"}
    bindings = [
        m for m in objects if m["kind"] == "RoleBinding" and m["metadata"]["namespace"] in scoped
    ]
    assert {(b["subjects"][0]["name"], b["subjects"][0]["namespace"]) for b in bindings} == {
        ("headless-reconciler", INSTALL_NAMESPACE)
    }


def test_the_deployment_s_flags_are_ones_the_controller_accepts(rendered: list[Manifest]) -> None:
    from typer.testing import CliRunner

    from reconciler.cli import app

    flags = [arg for arg in args(rendered) if arg != "run"]
    result = CliRunner().invoke(app, ["run", *flags, "--help"])

    assert result.exit_code == 0, result.output
