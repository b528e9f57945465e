"""A restarted pod gets its endpoint's user fields back (SPEC section 3: kept for the same pod).

A restart deletes the pod before its successor is ready, so the entry loses
the pod's endpoint in between. The patch that removes it stores the endpoint
in the entry's ``headless-reconciler.io/departed-endpoints`` annotation; the
patch that brings the pod back restores its fields and forgets it. Kept on
the entry, not in a process: the fault campaign's seed 4 killed the leader in
between, and the successor brought the pod back bare.
"""

from __future__ import annotations

import msgspec
import pytest

from reconciler.applying.patches import service_entry_patch
from reconciler.models.projections import WorkloadSpec
from reconciler.planning.departed import (
    DEPARTED_ANNOTATION,
    MAX_REMEMBERED,
    departed_after,
    encode_departed,
    read_departed,
)
from reconciler.planning.desired import ready_addresses
from reconciler.planning.endpoints import rebuild_endpoints
from reconciler.planning.outcome import applied_to_service_entry
from reconciler.planning.plans import DriftReason, EndpointChange, UpdateServiceEntryEndpoints

from .builders import annotated_entry, namespace, plan_one, ready_slice, se_endpoint, service
from .conftest import FakeView

WEB1_BEFORE = se_endpoint("10.0.0.2", "web-1", weight=20, locality="eu/a", ports={"http": 18080})
WEB1_REMEMBERED = msgspec.structs.replace(WEB1_BEFORE, address=None)
WEB0 = se_endpoint("10.0.0.1", "web-0")


def removed(pod: str, address: str) -> EndpointChange:
    return EndpointChange(pod, DriftReason.EXTRA, before=address, after=None)


def test_a_removed_pods_endpoint_is_remembered_without_its_address() -> None:
    remembered = departed_after({}, before=[WEB1_BEFORE], changes=[removed("web-1", "10.0.0.2")])

    assert remembered == {"web-1": WEB1_REMEMBERED}


def test_a_returning_pod_gets_its_old_fields_at_its_new_address() -> None:
    wanted = ready_addresses([ready_slice({"web-1": "10.0.0.9"})], family="IPv4")

    outcome = rebuild_endpoints(
        [], wanted=wanted, entry_ports=(), known_pods={}, departed={"web-1": WEB1_REMEMBERED}
    )

    assert outcome.after == (
        se_endpoint("10.0.0.9", "web-1", weight=20, locality="eu/a", ports={"http": 18080}),
    )
    assert [c.reason for c in outcome.changes] == [DriftReason.MISSING]


def test_a_returned_pod_is_forgotten_once_written() -> None:
    changes = [EndpointChange("web-1", DriftReason.MISSING, before=None, after="10.0.0.9")]

    assert departed_after({"web-1": WEB1_REMEMBERED}, before=[], changes=changes) == {}


def test_without_memory_a_returning_pod_gets_a_fresh_endpoint() -> None:
    wanted = ready_addresses([ready_slice({"web-1": "10.0.0.9"})], family="IPv4")

    outcome = rebuild_endpoints([], wanted=wanted, entry_ports=(), known_pods={})

    assert outcome.after == (se_endpoint("10.0.0.9", "web-1"),)


def test_an_endpoint_with_nothing_but_its_pod_label_is_not_remembered() -> None:
    bare = se_endpoint("10.0.0.1", "web-0")

    assert departed_after({}, before=[bare], changes=[removed("web-0", "10.0.0.1")]) == {}


def test_an_endpoint_no_pod_accounts_for_is_not_remembered() -> None:
    changes = [EndpointChange(None, DriftReason.EXTRA, before="192.0.2.1", after=None)]

    assert departed_after({}, before=[WorkloadSpec(address="192.0.2.1")], changes=changes) == {}


def test_the_memory_round_trips_through_the_annotation_in_natural_order() -> None:
    memory = {"web-10": WEB1_REMEMBERED, "web-2": WEB1_REMEMBERED}

    value = encode_departed(memory)

    assert value is not None
    assert value.index('"web-2"') < value.index('"web-10"')
    assert read_departed({DEPARTED_ANNOTATION: value}) == memory
    assert encode_departed({}) is None


@pytest.mark.parametrize("value", ["", "not json", '{"web-1": 3}', '["web-1"]', "{" * 10_000])
def test_an_unreadable_memory_counts_as_none(value: str) -> None:
    assert read_departed({DEPARTED_ANNOTATION: value}) == {}


def test_the_memory_keeps_at_most_its_limit_of_pods_first_in_natural_order() -> None:
    before = [se_endpoint(f"10.1.0.{i}", f"web-{i}", weight=1) for i in range(250)]
    changes = [removed(f"web-{i}", e.address or "") for i, e in enumerate(before)]

    remembered = departed_after({}, before=before, changes=changes)

    assert len(remembered) == MAX_REMEMBERED
    assert "web-0" in remembered
    assert f"web-{MAX_REMEMBERED}" not in remembered


def test_the_removal_patch_carries_the_memory_and_the_return_patch_clears_it() -> None:
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.1"})])
    entry = annotated_entry(endpoints=(WEB0, WEB1_BEFORE))

    removal = plan_one(view, entry, now=0.0)
    assert isinstance(removal, UpdateServiceEntryEndpoints)
    patch = service_entry_patch(removal)
    assert read_departed(patch["metadata"]["annotations"]) == {"web-1": WEB1_REMEMBERED}

    entry = applied_to_service_entry(entry, removal)
    view.add(ready_slice({"web-0": "10.0.0.1", "web-1": "10.0.0.9"}))
    back = plan_one(view, entry)
    assert isinstance(back, UpdateServiceEntryEndpoints)
    assert back.after[1] == se_endpoint(
        "10.0.0.9", "web-1", weight=20, locality="eu/a", ports={"http": 18080}
    )
    assert service_entry_patch(back)["metadata"]["annotations"] == {DEPARTED_ANNOTATION: None}
    assert DEPARTED_ANNOTATION not in applied_to_service_entry(entry, back).metadata.annotations


def test_a_write_that_changes_no_memory_leaves_the_annotation_alone() -> None:
    view = FakeView([namespace(), service(), ready_slice({"web-0": "10.0.0.5"})])
    entry = annotated_entry(endpoints=(WEB0,))

    update = plan_one(view, entry)

    assert isinstance(update, UpdateServiceEntryEndpoints)
    assert update.departed is None
    assert "annotations" not in service_entry_patch(update)["metadata"]
