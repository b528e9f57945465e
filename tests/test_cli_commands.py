"""The command line of ``diff`` and ``audit``: bad input is one sentence and an exit code.

Every way a one-shot command can fail before it has an answer (a bad flag or
variable, an unusable kubeconfig, an API server that does not answer) ends
with exit code 2 or more and exactly one ``error: ...`` line on stderr that
names what to fix, never a traceback. API answers (401, 403) are tested
against the simulator in ``tests/e2e/test_diff_cli.py``.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config import AuditSettings, DiffSettings, ReportSettings, RunSettings
from reconciler.reporting.commands import ExitCode


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def assert_one_sentence(stderr: str, *, naming: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    assert naming in lines[0]
    assert "Traceback" not in stderr


def kubeconfig_for(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["diff", "audit"])
@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["-o", "yaml"], "--output"),
        (["--selector", "tier in (db"], "--selector"),
        (["--selector", "app=web=x"], "--selector"),
        (["-A", "-n", "shop"], "--all-namespaces"),
        (["--cluster-domain", "not a domain"], "--cluster-domain"),
        (["--allow-cross-namespace", "team-a"], "--allow-cross-namespace"),
        (["--kubeconfig", "/nonexistent/kubeconfig"], "--kubeconfig"),
    ],
)
def test_a_bad_flag_is_one_sentence_naming_it_and_exit_2(
    command: str, args: list[str], flag: str
) -> None:
    code, stdout, stderr = invoke(command, *args)

    assert code == ExitCode.USAGE
    assert stdout == ""
    assert_one_sentence(stderr, naming=flag)


def test_a_bad_removal_grace_names_the_flag_as_typed() -> None:
    code, _, stderr = invoke("diff", "--removal-grace", "-1")

    assert code == ExitCode.USAGE
    assert_one_sentence(stderr, naming="--removal-grace (or HEADLESS_RECONCILER_REMOVAL_GRACE")


def test_a_bad_environment_variable_names_the_flag_and_the_variable() -> None:
    code, _, stderr = invoke("audit", env={"HEADLESS_RECONCILER_OUTPUT": "xml"})

    assert code == ExitCode.USAGE
    assert_one_sentence(stderr, naming="--output (or HEADLESS_RECONCILER_OUTPUT) 'xml'")


def test_an_unknown_option_is_a_usage_error_without_a_box_or_traceback() -> None:
    code, _, stderr = invoke("diff", "--bogus")

    assert code == ExitCode.USAGE
    assert "No such option: --bogus" in stderr
    assert "╭" not in stderr
    assert "Traceback" not in stderr


@pytest.mark.parametrize(
    "content",
    ["clusters: [", "just a string\n", "", "apiVersion: v1\nclusters: 3\n"],
    ids=["yaml-syntax", "not-a-mapping", "empty", "wrong-shape"],
)
def test_a_malformed_kubeconfig_is_one_sentence_and_exit_2(tmp_path: Path, content: str) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(content)

    code, _, stderr = invoke("diff", "--kubeconfig", str(path))

    assert code == ExitCode.USAGE
    assert_one_sentence(stderr, naming="cannot load the cluster configuration")


def test_an_unknown_context_is_one_sentence_and_exit_2(tmp_path: Path) -> None:
    path = kubeconfig_for(tmp_path / "kubeconfig", "http://127.0.0.1:1")

    code, _, stderr = invoke("audit", "--kubeconfig", str(path), "--context", "nope")

    assert code == ExitCode.USAGE
    assert_one_sentence(stderr, naming="nope")


@pytest.mark.parametrize("command", ["diff", "audit"])
def test_an_unreachable_api_server_is_one_sentence_and_exit_3(tmp_path: Path, command: str) -> None:
    server = f"http://127.0.0.1:{closed_port()}"
    path = kubeconfig_for(tmp_path / "kubeconfig", server)

    code, stdout, stderr = invoke(command, "--kubeconfig", str(path))

    assert code == ExitCode.UNREACHABLE
    assert stdout == ""
    assert_one_sentence(stderr, naming=f"cannot reach the API server at {server}")


def test_help_lists_every_command() -> None:
    code, stdout, _ = invoke("--help")

    assert code == 0
    for command in ("run", "diff", "audit", "demo", "simulate"):
        assert command in stdout


@pytest.mark.parametrize("command", ["diff", "audit"])
@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("grpc", "must contain {name}"),
        ("{name}-{x}", "only {name} may be used"),
        ("{name}_GRPC", "may add only lowercase letters, digits and '-'"),
    ],
)
def test_a_bad_paired_name_template_is_one_sentence_naming_the_flag(
    command: str, template: str, problem: str
) -> None:
    env = {"HEADLESS_RECONCILER_PAIRED_NAME_TEMPLATE": template}

    code, stdout, stderr = invoke(command, env=env)

    assert code == ExitCode.USAGE
    assert stdout == ""
    assert_one_sentence(
        stderr,
        naming=f"--paired-name-template (or HEADLESS_RECONCILER_PAIRED_NAME_TEMPLATE) {template!r}",
    )
    assert problem in stderr


@pytest.mark.parametrize("settings_type", [RunSettings, DiffSettings, AuditSettings])
def test_every_command_plans_with_the_paired_name_template_it_was_given(
    settings_type: type[RunSettings | ReportSettings],
) -> None:
    settings = settings_type(paired_name_template="{name}-mesh")

    assert settings.planning().paired_name_template == "{name}-mesh"
    assert settings_type().planning().paired_name_template == "{name}-grpc"
