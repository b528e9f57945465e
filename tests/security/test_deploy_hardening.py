"""Every way of installing the controller runs it unprivileged (SPEC section 7).

``tests/deploy`` checks the kustomize renders' securityContext fields and the
Containerfile's user; this goes over every pod spec that any supported
install renders (the kustomize base and overlays, the Helm chart with each
kind of values) and asks the questions a pod-security review asks of all of
them: numeric non-root user and group, no privilege, no host namespaces or
paths, only the writable scratch space the process might use, and a token
mounted only into the pod that needs one. The Containerfile's final stage
must match: a numeric non-root user and group, nothing run at build time in
it, nothing written at run time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from deploy.manifests import KUSTOMIZE, Manifest, helm_render, kustomize, one
from deploy.test_containerfile import instructions

KUSTOMIZATIONS = {
    "kustomize base": KUSTOMIZE / "base",
    "kustomize namespace-scoped": KUSTOMIZE / "overlays" / "namespace-scoped",
    "kustomize observe-only": KUSTOMIZE / "overlays" / "observe-only",
}
HELM_VALUES: dict[str, dict[str, Any]] = {
    "helm defaults": {},
    "helm observe-only": {"observeOnly": True, "scope": {"namespaces": ["team-a"]}},
    "helm bare": {
        "replicaCount": 1,
        "leaderElection": {"enabled": False},
        "networkPolicy": {"enabled": False},
        "podDisruptionBudget": {"enabled": False},
    },
    "helm customised": {
        "image": {"repository": "registry.example/mesh/headless-reconciler", "tag": "0.2.0"},
        "imagePullSecrets": [{"name": "registry"}],
        "metrics": {"port": 9102},
        "extraArgs": ["--workers=8"],
    },
}
INSTALLS = [*KUSTOMIZATIONS, *HELM_VALUES]
HOST_FIELDS = ("hostNetwork", "hostPID", "hostIPC", "hostUsers", "shareProcessNamespace")
ALLOWED_VOLUME_SOURCES = frozenset({"emptyDir"})


def render(install: str) -> list[Manifest]:
    if install in KUSTOMIZATIONS:
        return kustomize(KUSTOMIZATIONS[install])
    pytest.importorskip("helm_python")
    return helm_render(HELM_VALUES[install])


@pytest.fixture(scope="module", params=INSTALLS)
def rendered(request: pytest.FixtureRequest) -> list[Manifest]:
    return render(request.param)


def pod_spec(objects: list[Manifest]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def all_containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        yield from pod.get(field) or []


def is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def test_the_pod_runs_as_a_numeric_non_root_user_and_group(rendered: list[Manifest]) -> None:
    security = pod_spec(rendered)["securityContext"]

    assert security["runAsNonRoot"] is True
    assert is_positive_int(security["runAsUser"]), security
    assert is_positive_int(security["runAsGroup"]), security
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert "sysctls" not in security
    assert security.get("supplementalGroups", []) == []


def test_every_container_is_read_only_unprivileged_and_keeps_no_capability(
    rendered: list[Manifest],
) -> None:
    pod = pod_spec(rendered)
    containers = list(all_containers(pod))

    assert [c["name"] for c in containers] == ["controller"]
    for container in containers:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert security.get("privileged", False) is False
        assert security.get("runAsNonRoot", True) is True
        assert security.get("runAsUser", 1) != 0
        assert security.get("runAsGroup", 1) != 0
        assert security.get("seccompProfile", {"type": "RuntimeDefault"}) == {
            "type": "RuntimeDefault"
        }
        assert security.get("procMount", "Default") == "Default"


def test_nothing_of_the_host_is_shared_and_only_scratch_space_is_mounted(
    rendered: list[Manifest],
) -> None:
    pod = pod_spec(rendered)

    assert [field for field in HOST_FIELDS if pod.get(field) not in (None, False)] == []
    for volume in pod.get("volumes") or []:
        sources = set(volume) - {"name"}
        assert sources <= ALLOWED_VOLUME_SOURCES, volume
        assert volume["emptyDir"].get("medium", "") == ""
        assert volume["emptyDir"]["sizeLimit"]
    for container in all_containers(pod):
        assert all("hostPort" not in port for port in container.get("ports") or [])
        writable = [
            m["mountPath"] for m in container.get("volumeMounts") or [] if not m.get("readOnly")
        ]
        assert writable == ["/tmp"]


def test_only_the_controller_pod_gets_a_service_account_token(rendered: list[Manifest]) -> None:
    pod = pod_spec(rendered)
    (account,) = [m for m in rendered if m["kind"] == "ServiceAccount"]

    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True


def test_the_image_runs_as_the_user_and_group_every_install_sets() -> None:
    final = _final_stage()
    (user,) = [rest for keyword, rest in final if keyword == "USER"]
    uid, _, gid = user.partition(":")

    assert re.fullmatch(r"[1-9]\d*", uid), "USER must be numeric for runAsNonRoot to verify it"
    assert re.fullmatch(r"[1-9]\d*", gid), "the group must be numeric and not root's"
    for install in INSTALLS:
        security = pod_spec(render(install))["securityContext"]
        assert (security["runAsUser"], security["runAsGroup"]) == (int(uid), int(gid)), install


def test_the_final_stage_runs_nothing_at_build_time_and_needs_no_shell() -> None:
    final = _final_stage()
    keywords = [keyword for keyword, _ in final]

    assert "RUN" not in keywords, "the runtime image must be assembled by COPY alone"
    assert "SHELL" not in keywords
    assert "VOLUME" not in keywords, "a VOLUME would be a writable path the pod never declared"
    for keyword in ("ENTRYPOINT", "CMD"):
        (value,) = [rest for k, rest in final if k == keyword]
        assert value.startswith("["), f"{keyword} in shell form needs /bin/sh at run time"


def test_the_final_stage_writes_no_bytecode_and_keeps_home_on_the_scratch_volume() -> None:
    environment = " ".join(rest for keyword, rest in _final_stage() if keyword == "ENV")
    mounts = {
        mount["mountPath"]
        for container in all_containers(pod_spec(render("kustomize base")))
        for mount in container.get("volumeMounts") or []
    }

    assert "PYTHONDONTWRITEBYTECODE=1" in environment.split()
    (home,) = re.findall(r"\bHOME=(\S+)", environment)
    assert any(home == path or home.startswith(path + "/") for path in mounts), (home, mounts)


def _final_stage() -> list[tuple[str, str]]:
    found = instructions()
    starts = [index for index, (keyword, _) in enumerate(found) if keyword == "FROM"]
    return found[starts[-1] :]
