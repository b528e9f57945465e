"""``plan``: many keys in, one frozen Plan out, in key order."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning import plan
from reconciler.planning.plans import (
    NoWrite,
    Plan,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
)
from reconciler.planning.settings import PlanningSettings

from .builders import (
    NOW,
    NOW_TIMESTAMP,
    annotated_entry,
    namespace,
    ready_slice,
    se_endpoint,
    service,
    service_entry,
    workload_entry,
)
from .conftest import FakeView


def se_key(name: str) -> ObjectKey:
    return ObjectKey(Kind.SERVICE_ENTRY, "prod", name)


def we_key(name: str) -> ObjectKey:
    return ObjectKey(Kind.WORKLOAD_ENTRY, "prod", name)


@pytest.fixture
def view() -> FakeView:
    stale = (se_endpoint("10.0.0.9", "web-0"),)
    return FakeView(
        [
            namespace(),
            service(),
            ready_slice({"web-0": "10.0.0.1"}),
            annotated_entry(name="b-se", endpoints=stale),
            annotated_entry("other/web", name="a-se"),
            service_entry("c-se", hosts=("web",)),
            workload_entry("a-we", address="10.0.0.7"),
        ]
    )


def planned(view: FakeView, keys: list[ObjectKey]) -> Plan:
    return plan(
        keys,
        view=view,
        settings=PlanningSettings(),
        now=NOW,
        now_timestamp=NOW_TIMESTAMP,
        holds={},
    )


def test_actions_come_in_key_order_whatever_order_keys_are_given(view: FakeView) -> None:
    keys = [we_key("a-we"), se_key("c-se"), se_key("b-se"), se_key("a-se")]
    result = planned(view, keys)
    assert [a.key for a in result] == [se_key("a-se"), se_key("b-se"), we_key("a-we")]
    refused, update, address = result.actions
    assert isinstance(refused, NoWrite)
    assert refused.verdict is Verdict.REFUSED
    assert isinstance(update, UpdateServiceEntryEndpoints)
    assert isinstance(address, UpdateWorkloadEntryAddress)
    assert result.writes == (update, address)
    assert result.withheld == (refused,)


def test_keys_of_absent_objects_and_other_kinds_plan_nothing(view: FakeView) -> None:
    keys = [se_key("gone"), ObjectKey(Kind.SERVICE, "prod", "web"), we_key("gone")]
    assert not planned(view, keys)


def test_a_key_given_twice_is_planned_once(view: FakeView) -> None:
    assert len(planned(view, [se_key("b-se"), se_key("b-se")]).actions) == 1


def test_a_plan_is_frozen(view: FakeView) -> None:
    result = planned(view, [se_key("b-se")])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.actions = ()  # type: ignore[misc]
