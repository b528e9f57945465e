"""The container build file: multi-stage, pinned, non-root, running the package's own command.

Docker cannot run here, so this reads the file the way a linter does
(instructions, not a build) and checks what the Deployment relies on.
"""

from __future__ import annotations

import re
import tomllib

from .manifests import ROOT, kustomize, one

CONTAINERFILE = ROOT / "Containerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", CONTAINERFILE.read_text())
    found = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_it_builds_in_one_stage_and_runs_from_another() -> None:
    stages = [rest for keyword, rest in instructions() if keyword == "FROM"]

    assert len(stages) == 2
    assert stages[0].endswith(" AS build")
    assert (
        "COPY",
        "--from=build /opt/headless-reconciler /opt/headless-reconciler",
    ) in instructions()


def test_the_base_image_is_pinned_to_a_python_release_not_latest() -> None:
    (default,) = [rest for keyword, rest in instructions() if keyword == "ARG"]

    assert re.fullmatch(r"PYTHON_IMAGE=docker\.io/library/python:3\.\d+-slim-\w+", default)


def test_the_final_stage_runs_as_the_non_root_user_the_deployment_expects() -> None:
    final = instructions()[[k for k, _ in instructions()].index("FROM", 1) :]
    (user,) = [rest for keyword, rest in final if keyword == "USER"]
    pod = one(kustomize(ROOT / "deploy" / "kustomize" / "base"), "Deployment")["spec"]["template"]

    uid, _, gid = user.partition(":")
    assert int(uid) != 0
    assert int(gid) != 0
    assert int(uid) == pod["spec"]["securityContext"]["runAsUser"]


def test_the_entrypoint_is_the_package_s_console_command() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    entrypoint = dict(instructions())["ENTRYPOINT"]

    assert entrypoint == '["headless-reconciler"]'
    assert "headless-reconciler" in scripts
    assert dict(instructions())["CMD"] == '["run"]'


def test_only_the_package_sources_enter_the_build_context() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()

    assert ignored[ignored.index("*") + 1 :][:3] == [
        "!pyproject.toml",
        "!README.md",
        "!reconciler/",
    ]
