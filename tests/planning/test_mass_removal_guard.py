"""SPEC section 4: a change removing more than half, or all, while adding none is held.

Time is an argument: ``now`` and the caller's holds are chosen by
each test, no clock is read and nothing sleeps.
"""

from __future__ import annotations

import pytest

from reconciler.planning.guard import Hold, hold_of, is_mass_removal
from reconciler.planning.planner import plan_service_entry, service_entry_key
from reconciler.planning.plans import (
    DriftReason,
    EndpointChange,
    NoWrite,
    UpdateServiceEntryEndpoints,
    Verdict,
)
from reconciler.planning.settings import PlanningSettings

from .builders import (
    NOW,
    annotated_entry,
    endpoint_slice,
    namespace,
    plan_one,
    pod_endpoint,
    ready_slice,
    se_endpoint,
    service,
)
from .conftest import FakeView

EXTRA = EndpointChange("web-9", DriftReason.EXTRA, before="10.0.0.9", after=None)
MISSING = EndpointChange("web-8", DriftReason.MISSING, before=None, after="10.0.0.8")
STALE = EndpointChange("web-7", DriftReason.STALE, before="10.0.0.7", after="10.0.0.17")


@pytest.mark.parametrize(
    ("before_count", "changes", "held"),
    [
        pytest.param(2, [EXTRA, EXTRA], True, id="removing all endpoints is held"),
        pytest.param(1, [EXTRA], True, id="removing the only endpoint is held"),
        pytest.param(5, [EXTRA] * 3, True, id="removing more than half is held"),
        pytest.param(4, [EXTRA] * 2, False, id="removing exactly half is not held"),
        pytest.param(4, [EXTRA] * 3 + [MISSING], False, id="removing while adding is not held"),
        pytest.param(4, [STALE] * 4, False, id="addresses changing are not removals"),
        pytest.param(3, [EXTRA, EXTRA, STALE], True, id="stale changes do not release a hold"),
        pytest.param(0, [MISSING], False, id="filling an empty entry is not held"),
    ],
)
def test_what_counts_as_a_mass_removal(
    before_count: int, changes: list[EndpointChange], held: bool
) -> None:
    assert is_mass_removal(changes, before_count=before_count) is held


FULL = (
    se_endpoint("10.0.0.1", "web-0"),
    se_endpoint("10.0.0.2", "web-1"),
    se_endpoint("10.0.0.3", "web-2"),
)
ENTRY = annotated_entry(endpoints=FULL)
KEY = service_entry_key(ENTRY)


def emptied_view() -> FakeView:
    """The Service's only slice is gone: a relist, or a slice deleted and re-created."""
    return FakeView([namespace(), service()])


def test_a_mass_removal_is_held_from_now_with_its_changes() -> None:
    action = plan_one(emptied_view(), ENTRY, now=NOW)
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.HELD
    assert action.since == NOW
    assert "would remove 3 of 3 endpoints and add none" in action.message
    assert [c.reason for c in action.changes] == [DriftReason.EXTRA] * 3


def test_a_held_removal_keeps_its_start_until_the_grace_period_is_over() -> None:
    action = plan_one(emptied_view(), ENTRY, now=NOW + 29.9, held_since={KEY: NOW})
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.HELD
    assert action.since == NOW


def test_a_removal_that_lasts_the_grace_period_is_written() -> None:
    action = plan_one(emptied_view(), ENTRY, now=NOW + 30.0, held_since={KEY: NOW})
    assert isinstance(action, UpdateServiceEntryEndpoints)
    assert action.after == ()


def test_the_grace_period_is_a_setting() -> None:
    settings = PlanningSettings(removal_grace=0)
    assert isinstance(
        plan_one(emptied_view(), ENTRY, settings=settings), UpdateServiceEntryEndpoints
    )


def test_a_slice_briefly_missing_never_empties_the_entry() -> None:
    first = plan_one(emptied_view(), ENTRY, now=NOW)
    assert isinstance(first, NoWrite)
    assert first.verdict is Verdict.HELD
    back = FakeView(
        [
            namespace(),
            service(),
            ready_slice({"web-0": "10.0.0.1", "web-1": "10.0.0.2", "web-2": "10.0.0.3"}),
        ]
    )
    assert plan_one(back, ENTRY, now=NOW + 5, held_since={KEY: NOW}) is None


def test_a_scale_down_by_more_than_half_is_held_then_written() -> None:
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"})])
    held = plan_one(view, ENTRY, now=NOW)
    assert isinstance(held, NoWrite)
    assert held.verdict is Verdict.HELD
    written = plan_one(view, ENTRY, now=NOW + 31, held_since={KEY: NOW})
    assert isinstance(written, UpdateServiceEntryEndpoints)
    assert written.after == FULL[:1]


def test_a_pod_level_entry_whose_pod_is_not_ready_is_held_then_emptied() -> None:
    view = FakeView(
        [namespace(), service(), endpoint_slice(pod_endpoint("web-1", "10.0.0.2", ready=False))]
    )
    entry = annotated_entry(pod="web-1", endpoints=(FULL[1],))
    held = plan_one(view, entry, now=NOW)
    assert isinstance(held, NoWrite)
    assert held.verdict is Verdict.HELD
    written = plan_one(view, entry, now=NOW + 30, held_since={KEY: NOW})
    assert isinstance(written, UpdateServiceEntryEndpoints)
    assert written.after == ()


def test_a_dual_stack_service_missing_its_ipv4_slice_holds_rather_than_flip_to_ipv6() -> None:
    view = FakeView(
        [
            namespace(),
            service(ip_families=("IPv4", "IPv6")),
            ready_slice(
                {"web-0": "fd00::1", "web-1": "fd00::2", "web-2": "fd00::3"},
                address_type="IPv6",
            ),
        ]
    )
    action = plan_one(view, ENTRY)
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.HELD


def test_a_held_removal_lets_an_address_another_pod_now_holds_go_at_once() -> None:
    four = (*FULL, se_endpoint("10.0.0.4", "web-3"))
    entry = annotated_entry(endpoints=four)
    recycled = ready_slice({"db-0": "10.0.0.2"}, service="db")
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"}), recycled])

    early = plan_one(view, entry, now=NOW)

    assert isinstance(early, UpdateServiceEntryEndpoints)
    assert early.after == (FULL[0], FULL[2], four[3])
    assert [(c.pod, c.before) for c in early.changes] == [("web-1", "10.0.0.2")]
    rest = plan_one(view, annotated_entry(endpoints=early.after), now=NOW)
    assert isinstance(rest, NoWrite)
    assert rest.verdict is Verdict.HELD, "web-2 and web-3 are merely gone: they wait"


def test_a_recycled_address_does_not_count_towards_a_mass_removal() -> None:
    recycled = ready_slice({"db-0": "10.0.0.2"}, service="db")
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"}), recycled])

    written = plan_one(view, ENTRY, now=NOW)

    assert isinstance(written, UpdateServiceEntryEndpoints), "1 of 2 real endpoints is no mass"
    assert written.after == FULL[:1]


def test_the_same_pod_listed_again_at_its_address_is_no_recycling() -> None:
    moved = ready_slice({"web-1": "10.0.0.2"}, service="web-canary")
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"}), moved])

    held = plan_one(view, ENTRY, now=NOW)

    assert isinstance(held, NoWrite)
    assert held.verdict is Verdict.HELD


def test_an_address_two_pods_claim_is_wanted_for_neither_until_the_slices_agree() -> None:
    lagging = ready_slice({"web-0": "10.0.0.1", "web-1": "10.0.0.2"})
    reused = ready_slice({"db-0": "10.0.0.2"}, service="db")
    view = FakeView([namespace(), service(), service("db"), lagging, reused])

    for_web = plan_one(view, annotated_entry(endpoints=FULL[:2]), now=NOW)
    for_db = plan_one(view, annotated_entry("db", name="db-se"), now=NOW)

    assert isinstance(for_web, UpdateServiceEntryEndpoints)
    assert for_web.after == FULL[:1]
    assert isinstance(for_db, NoWrite) or for_db is None, "db-0's entry does not get it either"


def test_a_hold_that_gets_worse_starts_its_grace_again() -> None:
    scaled_down = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"})])
    first = plan_one(scaled_down, ENTRY, now=NOW)
    assert isinstance(first, NoWrite)
    hold = hold_of(first)
    assert hold == Hold(NOW, frozenset({"10.0.0.2", "10.0.0.3"}))

    emptied = plan_service_entry(
        ENTRY,
        view=emptied_view(),
        settings=PlanningSettings(),
        now=NOW + 20,
        holds={KEY: hold},
    )
    assert isinstance(emptied, NoWrite)
    assert emptied.since == NOW + 20, "emptying is a new condition: it waits its own grace"

    better = plan_service_entry(
        ENTRY, view=scaled_down, settings=PlanningSettings(), now=NOW + 31, holds={KEY: hold}
    )
    assert isinstance(better, UpdateServiceEntryEndpoints), "the scale-down has lasted the grace"
