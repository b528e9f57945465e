"""Rendering what ``deploy/`` ships: kustomize (a real one), the Helm chart, and schema checks.

Kustomize is the one embedded in ``kubectl`` (``kubectl kustomize``): PyPI and
npm carry no kustomize binary, and Debian's ``kubernetes-client`` embeds a
kustomize too old for these overlays. The machine's ``kubectl`` (v1.32,
kustomize v5.5) does. Without it the rendering tests skip, unless
``KUSTOMIZE_REQUIRED`` is set (CI sets it), when they fail.

Helm is Helm's own Go SDK (v4) through PyPI's ``helm-python-sdk``: render and
lint offline, no binary. Objects are validated with ``kubernetes-validate``
against the OpenAPI schemas of Kubernetes releases; the Prometheus operator's
kinds have no schema there and are checked by the tests themselves.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy" / "kustomize"
CHART = ROOT / "deploy" / "helm" / "headless-reconciler"
INSTALL_NAMESPACE = "headless-reconciler"
RELEASE = "headless-reconciler"
HELM_ONLY_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
"""Labels Helm charts carry by convention and kustomize has no reason to."""
SCHEMA_VERSIONS = ("1.28.0", kubernetes_validate.utils.latest_version())
"""The oldest release the fidelity transcripts come from, and the newest schemas shipped."""
OPERATOR_KINDS = frozenset({"ServiceMonitor", "PrometheusRule"})

Manifest = dict[str, Any]


def kustomize(directory: Path) -> list[Manifest]:
    """``kubectl kustomize <directory>``, parsed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        message = "kubectl (with its embedded kustomize) is not installed"
        if os.environ.get("KUSTOMIZE_REQUIRED"):
            pytest.fail(message)
        pytest.skip(message)
    rendered = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


def helm_render(values: dict[str, Any] | None = None) -> list[Manifest]:
    """The chart rendered offline, as ``helm template`` of the release in its namespace."""
    import helm_python

    with helm_python.Chart.load(str(CHART)) as chart:
        chart.validate_schema(values or {})
        rendered = chart.render(values or {}, name=RELEASE, namespace=INSTALL_NAMESPACE)
    return [
        doc
        for path, text in sorted(rendered.items())
        if path.endswith((".yaml", ".yml"))
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def helm_lint(values: dict[str, Any] | None = None) -> dict[str, Any]:
    import helm_python

    report: dict[str, Any] = helm_python.lint(
        str(CHART), values or {}, strict=True, namespace=INSTALL_NAMESPACE
    )
    return report


def schema_errors(objects: Iterable[Manifest]) -> list[str]:
    """What the Kubernetes OpenAPI schemas reject, for every release in ``SCHEMA_VERSIONS``."""
    errors = []
    for manifest in objects:
        if manifest["kind"] in OPERATOR_KINDS:
            continue
        for version in SCHEMA_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                errors.append(f"{ident(manifest)} on {version}: {error.message}")
    return errors


def ident(manifest: Manifest) -> tuple[str, str, str]:
    metadata = manifest["metadata"]
    return manifest["kind"], metadata.get("namespace", ""), metadata["name"]


def by_ident(objects: Iterable[Manifest]) -> dict[tuple[str, str, str], Manifest]:
    found: dict[tuple[str, str, str], Manifest] = {}
    for manifest in objects:
        assert ident(manifest) not in found, f"{ident(manifest)} twice"
        found[ident(manifest)] = manifest
    return found


def one(objects: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    (found,) = [m for m in objects if m["kind"] == kind and name in (None, m["metadata"]["name"])]
    return found


def without_helm_conventions(manifest: Manifest) -> Manifest:
    """The object with Helm's conventional labels dropped, wherever labels are."""
    cleaned = copy.deepcopy(manifest)
    for metadata in _all_metadata(cleaned):
        labels = metadata.get("labels") or {}
        for label in HELM_ONLY_LABELS:
            labels.pop(label, None)
    return cleaned


def _all_metadata(manifest: Manifest) -> list[dict[str, Any]]:
    found = [manifest["metadata"]]
    template = manifest.get("spec", {}).get("template")
    if isinstance(template, dict):
        found.append(template.setdefault("metadata", {}))
    return found


def rules(objects: Iterable[Manifest]) -> list[tuple[Manifest, dict[str, Any]]]:
    """Every RBAC rule with the Role or ClusterRole that holds it."""
    return [
        (role, rule)
        for role in objects
        if role["kind"] in ("Role", "ClusterRole")
        for rule in role.get("rules", [])
    ]


def args(objects: Iterable[Manifest]) -> list[str]:
    deployment = one(objects, "Deployment")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    found: list[str] = container["args"]
    return found
