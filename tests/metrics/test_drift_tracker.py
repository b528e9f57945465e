"""The drift gauges' source: per object, the drift of the latest plan that named it."""

from __future__ import annotations

import pytest

from reconciler.drift import DriftTracker
from reconciler.models.projections import Condition, Service
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import (
    Action,
    CreatePairedService,
    DriftReason,
    EndpointChange,
    NoWrite,
    SetWorkloadEntryHealth,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
)

SE = ObjectKey(Kind.SERVICE_ENTRY, "shop", "web-static")
OTHER_SE = ObjectKey(Kind.SERVICE_ENTRY, "ledger", "db-0")
WE = ObjectKey(Kind.WORKLOAD_ENTRY, "shop", "web-1")
HEADLESS = ObjectKey(Kind.SERVICE, "shop", "web")
PAIRED = ObjectKey(Kind.SERVICE, "shop", "web-grpc")

STALE = EndpointChange("web-1", DriftReason.STALE, "10.0.0.3", "10.0.0.7")
MISSING = EndpointChange("web-3", DriftReason.MISSING, None, "10.0.0.8")
EXTRA = EndpointChange(None, DriftReason.EXTRA, "10.0.0.9", None)


def update(key: ObjectKey, *changes: EndpointChange) -> UpdateServiceEntryEndpoints:
    return UpdateServiceEntryEndpoints(key, "7", before=(), after=(), changes=changes)


def test_objects_whose_plan_writes_are_counted_by_kind_and_namespace() -> None:
    tracker = DriftTracker()

    tracker.record(SE, [update(SE, STALE)], at=1.0)
    tracker.record(OTHER_SE, [update(OTHER_SE, EXTRA)], at=1.0)
    tracker.record(
        WE,
        [
            UpdateWorkloadEntryAddress(
                WE, "3", pod="web-1", before="10.0.0.3", after="10.0.0.7", changes=(STALE,)
            )
        ],
        at=1.0,
    )

    assert tracker.drifted_objects() == {
        (Kind.SERVICE_ENTRY, "shop"): 1,
        (Kind.SERVICE_ENTRY, "ledger"): 1,
        (Kind.WORKLOAD_ENTRY, "shop"): 1,
    }


def test_endpoint_drift_is_counted_by_kind_and_reason() -> None:
    tracker = DriftTracker()

    tracker.record(SE, [update(SE, STALE, MISSING, EXTRA)], at=1.0)
    tracker.record(OTHER_SE, [update(OTHER_SE, STALE)], at=1.0)

    assert tracker.drifted_endpoints() == {
        (Kind.SERVICE_ENTRY, DriftReason.STALE): 2,
        (Kind.SERVICE_ENTRY, DriftReason.MISSING): 1,
        (Kind.SERVICE_ENTRY, DriftReason.EXTRA): 1,
    }


def test_a_plan_without_actions_settles_what_the_key_reported_before() -> None:
    tracker = DriftTracker()
    tracker.record(SE, [update(SE, STALE)], at=1.0)

    tracker.record(SE, [], at=2.0)

    assert tracker.drifted_objects() == {}
    assert tracker.drifted_endpoints() == {}
    assert tracker.drift_since() == {}


def test_a_new_plan_replaces_the_previous_counts_of_its_key() -> None:
    tracker = DriftTracker()
    tracker.record(SE, [update(SE, STALE, EXTRA)], at=1.0)

    tracker.record(SE, [update(SE, MISSING)], at=2.0)

    assert tracker.drifted_endpoints() == {(Kind.SERVICE_ENTRY, DriftReason.MISSING): 1}
    assert tracker.drifted_objects() == {(Kind.SERVICE_ENTRY, "shop"): 1}


def test_drift_keeps_the_time_it_began_while_it_lasts_and_starts_again_after_settling() -> None:
    tracker = DriftTracker()
    tracker.record(SE, [update(SE, STALE)], at=10.0)
    tracker.record(OTHER_SE, [update(OTHER_SE, STALE)], at=15.0)
    tracker.record(SE, [update(SE, STALE, EXTRA)], at=20.0)
    assert tracker.drift_since() == {Kind.SERVICE_ENTRY: 10.0}

    tracker.record(SE, [], at=30.0)
    assert tracker.drift_since() == {Kind.SERVICE_ENTRY: 15.0}

    tracker.record(OTHER_SE, [], at=31.0)
    tracker.record(SE, [update(SE, STALE)], at=40.0)
    assert tracker.drift_since() == {Kind.SERVICE_ENTRY: 40.0}


HEALTH = SetWorkloadEntryHealth(
    WE, "3", before=None, after=Condition(type="Healthy", status="False"), conditions=()
)


@pytest.mark.parametrize(
    ("action", "drifted"),
    [
        pytest.param(update(SE, STALE), True, id="a write"),
        pytest.param(HEALTH, True, id="a health condition to write"),
        pytest.param(
            NoWrite(SE, Verdict.HELD, "held", changes=(EXTRA, EXTRA), since=1.0),
            True,
            id="a held mass removal",
        ),
        pytest.param(
            NoWrite(WE, Verdict.NO_ADDRESS, "no ready address", changes=(MISSING,)),
            True,
            id="a pod without a ready address",
        ),
        pytest.param(NoWrite(SE, Verdict.REFUSED, "cross-namespace"), False, id="a refusal"),
        pytest.param(
            NoWrite(SE, Verdict.NOT_RECONCILABLE, "workloadSelector"),
            False,
            id="not reconcilable",
        ),
    ],
)
def test_what_counts_as_drift(action: Action, drifted: bool) -> None:
    tracker = DriftTracker()

    tracker.record(action.key, [action], at=1.0)

    expected = {(action.key.kind, action.key.namespace): 1} if drifted else {}
    assert tracker.drifted_objects() == expected


def test_a_paired_service_conflict_is_counted_by_namespace_and_is_not_drift() -> None:
    tracker = DriftTracker()

    tracker.record(HEADLESS, [NoWrite(HEADLESS, Verdict.CONFLICT, "foreign Service")], at=1.0)

    assert tracker.paired_conflicts() == {"shop": 1}
    assert tracker.drifted_objects() == {}
    tracker.record(HEADLESS, [], at=2.0)
    assert tracker.paired_conflicts() == {}


def test_a_headless_service_plan_reports_and_settles_its_paired_service() -> None:
    tracker = DriftTracker()

    tracker.record(
        HEADLESS, [CreatePairedService(PAIRED, source=HEADLESS, after=Service())], at=1.0
    )
    assert tracker.drifted_objects() == {(Kind.SERVICE, "shop"): 1}
    assert tracker.drifted_endpoints() == {}

    tracker.record(HEADLESS, [], at=2.0)
    assert tracker.drifted_objects() == {}


def test_a_key_settles_only_what_it_reported_itself() -> None:
    tracker = DriftTracker()
    tracker.record(SE, [update(SE, STALE)], at=1.0)

    tracker.record(OTHER_SE, [], at=2.0)

    assert tracker.drifted_objects() == {(Kind.SERVICE_ENTRY, "shop"): 1}


def test_every_planned_kind_and_namespace_is_remembered_even_without_drift() -> None:
    tracker = DriftTracker()

    tracker.record(SE, [], at=1.0)
    tracker.record(
        HEADLESS, [CreatePairedService(PAIRED, source=HEADLESS, after=Service())], at=1.0
    )

    assert tracker.planned == {(Kind.SERVICE_ENTRY, "shop"), (Kind.SERVICE, "shop")}
