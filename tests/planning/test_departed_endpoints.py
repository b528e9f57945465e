"""A restarted pod gets its endpoint's user fields back (SPEC section 3: kept for the same pod).

A restart deletes the pod before its successor is ready, so the entry loses
the pod's endpoint in between. The caller remembers what was removed
(``departed_after``) and hands it back to the planner, which restores it when
the pod returns.
"""

from __future__ import annotations

from reconciler.models.projections import WorkloadSpec
from reconciler.planning.desired import ready_addresses
from reconciler.planning.endpoints import departed_after, rebuild_endpoints
from reconciler.planning.plans import DriftReason, EndpointChange
from reconciler.planning.references import POD_NAME_LABEL

from .builders import ready_slice


def endpoint(
    pod: str,
    address: str,
    *,
    weight: int | None = None,
    locality: str | None = None,
    ports: dict[str, int] | None = None,
) -> WorkloadSpec:
    labels = {POD_NAME_LABEL: pod}
    return WorkloadSpec(
        address=address, labels=labels, weight=weight, locality=locality, ports=ports
    )


WEB1_BEFORE = endpoint("web-1", "10.0.0.2", weight=20, locality="eu/a", ports={"http": 18080})


def test_a_removed_pods_endpoint_is_remembered_as_it_was() -> None:
    changes = [EndpointChange("web-1", DriftReason.EXTRA, before="10.0.0.2", after=None)]

    remembered = departed_after({}, before=[WEB1_BEFORE], changes=changes)

    assert remembered == {"web-1": WEB1_BEFORE}


def test_a_returning_pod_gets_its_old_fields_at_its_new_address() -> None:
    wanted = ready_addresses([ready_slice({"web-1": "10.0.0.9"})], family="IPv4")

    outcome = rebuild_endpoints(
        [], wanted=wanted, entry_ports=(), known_pods={}, departed={"web-1": WEB1_BEFORE}
    )

    assert outcome.after == (
        endpoint("web-1", "10.0.0.9", weight=20, locality="eu/a", ports={"http": 18080}),
    )
    assert [c.reason for c in outcome.changes] == [DriftReason.MISSING]


def test_a_returned_pod_is_forgotten_once_written() -> None:
    changes = [EndpointChange("web-1", DriftReason.MISSING, before=None, after="10.0.0.9")]

    assert departed_after({"web-1": WEB1_BEFORE}, before=[], changes=changes) == {}


def test_without_memory_a_returning_pod_gets_a_fresh_endpoint() -> None:
    wanted = ready_addresses([ready_slice({"web-1": "10.0.0.9"})], family="IPv4")

    outcome = rebuild_endpoints([], wanted=wanted, entry_ports=(), known_pods={})

    assert outcome.after == (endpoint("web-1", "10.0.0.9"),)


def test_an_endpoint_no_pod_accounts_for_is_not_remembered() -> None:
    changes = [EndpointChange(None, DriftReason.EXTRA, before="192.0.2.1", after=None)]

    assert departed_after({}, before=[WorkloadSpec(address="192.0.2.1")], changes=changes) == {}
