"""The Helm chart: lints clean, renders valid objects, and renders the kustomize base's objects.

No hand-kept copy can drift: for equivalent settings the chart's objects must
equal what kustomize renders from ``deploy/kustomize`` (less Helm's
conventional labels, and less the Namespace, which ``helm install
--create-namespace`` owns). The alert rules are not even copied: the chart's
``files/prometheusrule.yaml`` links to the generated file.
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
    helm_lint,
    helm_render,
    kustomize,
    one,
    rules,
    schema_errors,
    without_helm_conventions,
)

helm_python = pytest.importorskip("helm_python")

CLUSTER_SCOPED = frozenset({"Namespace", "ClusterRole", "ClusterRoleBinding"})
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "observe-only": {"observeOnly": True},
    "namespaces": {"scope": {"namespaces": ["team-a", "team-b"]}},
    "observe-only-in-namespaces": {"observeOnly": True, "scope": {"namespaces": ["team-a"]}},
    "bare": {
        "replicaCount": 1,
        "leaderElection": {"enabled": False},
        "metrics": {"serviceMonitor": {"enabled": False}, "prometheusRule": {"enabled": False}},
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
    "customised": {
        "image": {"repository": "registry.example/mesh/headless-reconciler", "tag": "0.2.0"},
        "extraArgs": ["--removal-grace=60", "--workers=8"],
        "metrics": {"port": 9102},
        "leaderElection": {"leaseName": "mesh-reconciler"},
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
    },
}


def as_installed(objects: list[Manifest]) -> dict[tuple[str, str, str], Manifest]:
    """Helm's objects as the API would hold them: in the release namespace, Helm labels aside."""
    installed = []
    for manifest in objects:
        manifest = without_helm_conventions(manifest)
        if manifest["kind"] not in CLUSTER_SCOPED:
            manifest["metadata"].setdefault("namespace", INSTALL_NAMESPACE)
        installed.append(manifest)
    return by_ident(installed)


def kustomized(directory: str) -> dict[tuple[str, str, str], Manifest]:
    objects = kustomize(KUSTOMIZE / directory)
    return by_ident(m for m in objects if m["kind"] != "Namespace")


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_chart_lints_clean_with_every_value_set(values: dict[str, Any]) -> None:
    report = helm_lint(values)

    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_value_set_renders_objects_valid_against_the_openapi_schemas(
    values: dict[str, Any],
) -> None:
    objects = helm_render(values)

    assert schema_errors(objects) == []
    by_ident(objects)


@pytest.mark.parametrize(
    ("values", "overlay"),
    [
        pytest.param({}, "base", id="defaults=base"),
        pytest.param({"observeOnly": True}, "overlays/observe-only", id="observe-only"),
        pytest.param(
            {"scope": {"namespaces": ["team-a", "team-b"]}},
            "overlays/namespace-scoped",
            id="namespace-scoped",
        ),
    ],
)
def test_the_chart_and_kustomize_render_the_same_objects(
    values: dict[str, Any], overlay: str
) -> None:
    from_helm = as_installed(helm_render(values))
    from_kustomize = kustomized(overlay)

    assert sorted(from_helm) == sorted(from_kustomize)
    for ident, manifest in from_kustomize.items():
        assert from_helm[ident] == manifest, ident


def test_switched_off_parts_are_not_rendered() -> None:
    objects = helm_render(VALUE_SETS["bare"])

    kinds = {m["kind"] for m in objects}
    assert kinds.isdisjoint({"ServiceMonitor", "PrometheusRule", "NetworkPolicy"})
    assert "PodDisruptionBudget" not in kinds
    assert not [m for m in objects if m["kind"] == "Role"], "no Lease without leader election"
    assert args(objects) == ["run", "--no-leader-elect"]
    assert one(objects, "Deployment")["spec"]["replicas"] == 1


def test_customised_values_reach_every_object_that_depends_on_them() -> None:
    objects = helm_render(VALUE_SETS["customised"])
    (container,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]

    assert container["image"] == "registry.example/mesh/headless-reconciler:0.2.0"
    assert args(objects) == [
        "run",
        "--lease-name=mesh-reconciler",
        "--metrics-address=:9102",
        "--removal-grace=60",
        "--workers=8",
    ]
    assert container["ports"][0]["containerPort"] == 9102
    assert one(objects, "Service")["spec"]["ports"][0]["port"] == 9102
    assert one(objects, "NetworkPolicy")["spec"]["ingress"][0]["ports"][0]["port"] == 9102
    lease_names = [
        rule.get("resourceNames") for role, rule in rules(objects) if role["kind"] == "Role"
    ]
    assert ["mesh-reconciler"] in lease_names
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "2Gi"}, "Helm merges maps"


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_the_rendered_flags_are_ones_the_controller_accepts(values: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from reconciler.cli import app

    flags = [arg for arg in args(helm_render(values)) if arg != "run"]
    result = CliRunner().invoke(app, ["run", *flags, "--help"])

    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "values",
    [{"observeOnly": "yes"}, {"scope": {"namespaces": ["Team A"]}}, {"replicas": 2}],
    ids=["not-a-boolean", "not-a-namespace", "unknown-key"],
)
def test_values_the_schema_refuses(values: dict[str, Any]) -> None:
    with pytest.raises(helm_python.HelmValuesError):
        helm_render(values)
