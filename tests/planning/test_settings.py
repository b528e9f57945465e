"""``--allow-cross-namespace FROM=TO`` and the planner's settings."""

from __future__ import annotations

import pytest

from reconciler.planning.settings import PlanningSettings, parse_allow_cross_namespace


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], frozenset(), id="nothing allowed by default"),
        pytest.param(["team-a=shared"], {("team-a", "shared")}, id="one pair"),
        pytest.param(
            ["team-a=shared", "team-b=shared"],
            {("team-a", "shared"), ("team-b", "shared")},
            id="flag repeated",
        ),
        pytest.param(
            ["team-a=shared, team-b = shared,"],
            {("team-a", "shared"), ("team-b", "shared")},
            id="comma-separated with spaces and a trailing comma",
        ),
    ],
)
def test_allow_cross_namespace_pairs(values: list[str], expected: set[tuple[str, str]]) -> None:
    assert parse_allow_cross_namespace(values) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("team-a", "'team-a' is not FROM=TO", id="no ="),
        pytest.param("a=b=c", "'a=b=c' is not FROM=TO", id="two ="),
        pytest.param("=shared", "'=shared' is not FROM=TO", id="empty FROM"),
        pytest.param("team-a=", "'team-a=' is not FROM=TO", id="empty TO"),
        pytest.param("Team_A=shared", "'Team_A' in 'Team_A=shared' is not a namespace", id="name"),
        pytest.param("a=*", "'*' in 'a=*' is not a namespace name", id="no wildcards"),
    ],
)
def test_bad_allow_cross_namespace_values_name_the_flag_and_the_item(
    value: str, message: str
) -> None:
    with pytest.raises(ValueError, match="--allow-cross-namespace") as raised:
        parse_allow_cross_namespace([value])
    assert message in str(raised.value)


def test_a_pair_allows_one_direction_only() -> None:
    settings = PlanningSettings(allow_cross_namespace=frozenset({("team-a", "shared")}))
    assert settings.allows_reference(from_namespace="team-a", to_namespace="shared")
    assert not settings.allows_reference(from_namespace="shared", to_namespace="team-a")
    assert settings.allows_reference(from_namespace="shared", to_namespace="shared")


def test_empty_namespaces_means_every_namespace_is_in_scope() -> None:
    assert PlanningSettings().in_scope("anything")
    assert not PlanningSettings(namespaces=frozenset({"prod"})).in_scope("staging")


@pytest.mark.parametrize(
    ("grace", "domain", "message"),
    [
        pytest.param(-1.0, "cluster.local", "removal_grace", id="negative grace"),
        pytest.param(30.0, ".", "cluster_domain", id="empty domain"),
    ],
)
def test_invalid_settings_are_rejected(grace: float, domain: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PlanningSettings(removal_grace=grace, cluster_domain=domain)
