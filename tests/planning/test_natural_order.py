"""Endpoints are ordered by pod name, naturally, so diffs are stable (SPEC section 3)."""

from __future__ import annotations

from reconciler.planning.ordering import natural_key


def test_numbers_in_pod_names_compare_as_numbers() -> None:
    names = ["web-10", "web-2", "web-1", "db-0", "web-01", "web"]
    assert sorted(names, key=natural_key) == ["db-0", "web", "web-01", "web-1", "web-2", "web-10"]


def test_names_mixing_text_and_numbers_never_compare_text_with_numbers() -> None:
    names = ["a1b2", "a1b", "a10", "1a", "a", "10"]
    assert sorted(names, key=natural_key) == ["1a", "10", "a", "a1b", "a1b2", "a10"]
