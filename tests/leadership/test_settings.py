"""Leader election and sharding settings: defaults that fit where the process runs, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli import app
from reconciler.config import ConfigError, RunSettings, build
from reconciler.leadership.role import pod_namespace
from reconciler.leadership.sharding import Shard

IN_CLUSTER = {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}


def test_leader_election_is_on_in_a_cluster_and_off_elsewhere() -> None:
    settings = RunSettings()

    assert settings.elects(kubeconfig=None, dry_run=False, environ=IN_CLUSTER)
    assert not settings.elects(kubeconfig=None, dry_run=False, environ={})
    assert not settings.elects(
        kubeconfig=None, dry_run=False, environ={**IN_CLUSTER, "KUBECONFIG": "/k"}
    )


def test_dry_run_never_elects_because_it_never_writes() -> None:
    assert not RunSettings().elects(kubeconfig=None, dry_run=True, environ=IN_CLUSTER)


def test_an_explicit_choice_wins_over_where_it_runs() -> None:
    assert RunSettings(leader_elect=True).elects(kubeconfig=None, dry_run=False, environ={})
    assert not RunSettings(leader_elect=False).elects(
        kubeconfig=None, dry_run=False, environ=IN_CLUSTER
    )


def test_the_defaults_are_client_go_s() -> None:
    election = RunSettings().election()

    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (15, 10, 2)
    assert RunSettings().shard() == Shard(0, 1)


@pytest.mark.parametrize(
    ("flags", "naming"),
    [
        ({"lease_duration": 10, "renew_deadline": 10.0}, "--lease-duration (10s) must exceed"),
        ({"renew_deadline": 2.0, "retry_period": 2.0}, "--renew-deadline"),
        ({"shard_index": 2, "shard_count": 2}, "--shard-index 2 must be below --shard-count 2"),
        ({"shard_count": 0}, "--shard-count"),
        ({"leader_elect": True, "dry_run": True}, "--dry-run never writes"),
        ({"lease_name": "Not A Name"}, "--lease-name"),
        ({"lease_namespace": "x/y"}, "--lease-namespace"),
    ],
)
def test_a_bad_value_is_one_sentence_naming_the_flag(flags: dict[str, object], naming: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(RunSettings, **flags)

    assert naming in str(raised.value)
    assert len(str(raised.value).splitlines()) == 1


def test_the_lease_namespace_is_the_pod_s_own(tmp_path: Path) -> None:
    namespace_file = tmp_path / "namespace"
    namespace_file.write_text("mesh-system\n")

    assert pod_namespace(path=namespace_file) == "mesh-system"
    assert pod_namespace(path=tmp_path / "missing") == "default"


def test_variables_configure_election_as_flags_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADLESS_RECONCILER_LEASE_NAMESPACE", "mesh-system")
    monkeypatch.setenv("HEADLESS_RECONCILER_SHARD_COUNT", "3")
    monkeypatch.setenv("HEADLESS_RECONCILER_SHARD_INDEX", "2")

    settings = RunSettings()

    assert settings.resolved_lease_namespace() == "mesh-system"
    assert settings.shard() == Shard(2, 3)


def test_the_run_command_refuses_a_shard_outside_its_count_before_connecting() -> None:
    result = CliRunner().invoke(app, ["run", "--shard-index", "3", "--shard-count", "2"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "error: --shard-index 3 must be below --shard-count 2."
