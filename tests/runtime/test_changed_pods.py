"""Which pods of a slice update to re-plan: exactly the changed ones, or more, never fewer.

The in-place comparison (same length) is the hot path of watch ingest; the
grouping by pod handles slices that grew or shrank. Both must name every pod
whose endpoints changed.
"""

from __future__ import annotations

import pytest
from runtime_world import endpoint, endpoint_slice

from reconciler.runtime.mapping import _changed_pods

WEB = [endpoint(f"web-{i}", f"10.0.0.{i}") for i in range(4)]


@pytest.mark.parametrize(
    ("after", "changed"),
    [
        pytest.param(WEB, set(), id="nothing-changed"),
        pytest.param(
            [WEB[0], endpoint("web-1", "10.0.9.9"), WEB[2], WEB[3]], {"web-1"}, id="one-new-ip"
        ),
        pytest.param(
            [WEB[0], endpoint("web-1", "10.0.0.1", ready=False), WEB[2], WEB[3]],
            {"web-1"},
            id="one-not-ready",
        ),
        pytest.param(WEB[:3], {"web-3"}, id="one-gone"),
        pytest.param([*WEB, endpoint("web-4", "10.0.0.4")], {"web-4"}, id="one-added"),
        pytest.param(
            [WEB[0], endpoint("web-9", "10.0.0.1"), WEB[2], WEB[3]],
            {"web-1", "web-9"},
            id="replaced-in-place",
        ),
    ],
)
def test_the_pods_whose_endpoints_changed_are_named(after: list[object], changed: set[str]) -> None:
    old = endpoint_slice("web-a", *WEB)
    new = endpoint_slice("web-a", *after)  # type: ignore[arg-type]

    assert _changed_pods(old, new) == changed


def test_a_reordered_slice_names_at_least_every_changed_pod() -> None:
    moved = [WEB[1], WEB[0], endpoint("web-2", "10.0.7.7"), WEB[3]]

    named = _changed_pods(endpoint_slice("web-a", *WEB), endpoint_slice("web-a", *moved))

    assert {"web-2"} <= named
    assert "web-3" not in named
