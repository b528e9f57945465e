"""Label selectors match labels as the API server does, and bad ones say what is wrong."""

from __future__ import annotations

import pytest

from reconciler.reporting.selectors import label_selector_problem, parse_label_selector

LABELS = {"app": "web", "tier": "db", "example.com/team": "a"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app", True),
        ("owner", False),
        ("!owner", True),
        ("!app", False),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("app!=web", False),
        ("owner!=x", True),
        ("tier in (db,cache)", True),
        ("tier in (cache)", False),
        ("owner in (x)", False),
        ("tier notin (db)", False),
        ("tier notin (cache, queue)", True),
        ("owner notin (x)", True),
        ("example.com/team=a", True),
        ("app=web,tier in (db,cache)", True),
        ("app=web, tier=cache", False),
    ],
)
def test_a_selector_matches_labels_as_the_api_server_does(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("tier in (db", "unbalanced parentheses"),
        ("app=web=x", "'app=web=x' is not a label requirement"),
        ("app=", None),
        ("a b", "'a b' is not a label requirement"),
    ],
)
def test_a_bad_selector_says_what_is_wrong(selector: str, problem: str | None) -> None:
    found = label_selector_problem(selector)

    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert found.startswith(problem)
