"""SPEC section 3: each endpoint rebuilt for its pod, keeping every field its user wrote."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.models.projections import WorkloadSpec
from reconciler.planning.plans import (
    Action,
    DriftReason,
    EndpointChange,
    UpdateServiceEntryEndpoints,
)
from reconciler.planning.references import POD_NAME_LABEL
from reconciler.planning.settings import PlanningSettings

from .builders import (
    annotated_entry,
    endpoint_slice,
    namespace,
    plan_one,
    pod_endpoint,
    ready_slice,
    se_endpoint,
    service,
)
from .conftest import Cached, FakeView

PODS = {"web-0": "10.0.0.1", "web-1": "10.0.0.2"}


def planned(
    objects: Sequence[Cached],
    *endpoints: WorkloadSpec,
    pod: str | None = None,
    ports: dict[str, int] | None = None,
) -> Action | None:
    """The plan for an entry opted in by annotation, with the mass-removal guard off."""
    view = FakeView([namespace(), service(), *objects])
    entry = annotated_entry(endpoints=endpoints, pod=pod, ports=ports)
    return plan_one(view, entry, settings=PlanningSettings(removal_grace=0))


def updated(
    objects: Sequence[Cached],
    *endpoints: WorkloadSpec,
    pod: str | None = None,
    ports: dict[str, int] | None = None,
) -> UpdateServiceEntryEndpoints:
    action = planned(objects, *endpoints, pod=pod, ports=ports)
    assert isinstance(action, UpdateServiceEntryEndpoints), action
    return action


def test_a_new_endpoint_carries_the_pod_name_label_and_maps_ports_by_name() -> None:
    slices = [endpoint_slice(pod_endpoint("web-0", "10.0.0.1"), ports={"http": 8080, "grpc": 9090})]
    action = updated(slices, ports={"http": 80, "metrics": 9100})
    assert action.after == (
        WorkloadSpec(address="10.0.0.1", labels={POD_NAME_LABEL: "web-0"}, ports={"http": 8080}),
    )


def test_a_new_endpoint_without_matching_port_names_has_no_ports() -> None:
    slices = [endpoint_slice(pod_endpoint("web-0", "10.0.0.1"), ports={"": 8080, "tcp": 5000})]
    action = updated(slices, ports={"http": 80})
    assert action.after[0].ports is None


def test_an_endpoint_that_stays_keeps_every_user_field() -> None:
    existing = se_endpoint(
        "10.0.0.9",
        "web-0",
        labels={"version": "v2", "zone": "a"},
        ports={"http": 8443},
        weight=3,
        locality="eu/west/a",
        network="net-1",
        service_account="web-sa",
    )
    action = updated([ready_slice({"web-0": "10.0.0.1"})], existing)
    assert action.after == (
        WorkloadSpec(
            address="10.0.0.1",
            labels={"version": "v2", "zone": "a", POD_NAME_LABEL: "web-0"},
            ports={"http": 8443},
            weight=3,
            locality="eu/west/a",
            network="net-1",
            service_account="web-sa",
        ),
    )


def test_an_unlabelled_endpoint_is_matched_by_address_and_gets_the_label() -> None:
    existing = se_endpoint("10.0.0.1", labels={"version": "v1"}, weight=5)
    action = updated([ready_slice({"web-0": "10.0.0.1"})], existing)
    assert action.after == (se_endpoint("10.0.0.1", "web-0", labels={"version": "v1"}, weight=5),)
    assert action.changes == ()


def test_the_pod_name_label_wins_over_the_address() -> None:
    """An IP recycled from web-3 to web-1: web-3's fields must not follow the address."""
    existing = se_endpoint("10.0.0.2", "web-3", weight=7)
    action = updated([ready_slice({"web-1": "10.0.0.2"})], existing)
    assert action.after == (se_endpoint("10.0.0.2", "web-1", ports={"http": 8080}),)
    assert action.changes == (
        EndpointChange("web-1", DriftReason.MISSING, before=None, after="10.0.0.2"),
        EndpointChange("web-3", DriftReason.EXTRA, before="10.0.0.2", after=None),
    )


def test_drift_is_reported_per_pod_as_stale_missing_or_extra() -> None:
    existing = (se_endpoint("10.0.0.9", "web-0"), se_endpoint("10.0.0.5", "web-5"))
    action = updated([ready_slice(PODS)], *existing)
    assert action.changes == (
        EndpointChange("web-0", DriftReason.STALE, before="10.0.0.9", after="10.0.0.1"),
        EndpointChange("web-1", DriftReason.MISSING, before=None, after="10.0.0.2"),
        EndpointChange("web-5", DriftReason.EXTRA, before="10.0.0.5", after=None),
    )


def test_a_removed_endpoint_of_a_not_ready_pod_names_the_pod() -> None:
    slices = [
        endpoint_slice(
            pod_endpoint("web-0", "10.0.0.1"),
            pod_endpoint("web-1", "10.0.0.2"),
            pod_endpoint("web-2", "10.0.0.3", ready=False),
        )
    ]
    existing = (
        se_endpoint("10.0.0.1", "web-0"),
        se_endpoint("10.0.0.2", "web-1"),
        se_endpoint("10.0.0.3"),
    )
    action = updated(slices, *existing)
    assert action.changes == (
        EndpointChange("web-2", DriftReason.EXTRA, before="10.0.0.3", after=None),
    )


def test_an_endpoint_no_pod_accounts_for_is_removed() -> None:
    existing = (se_endpoint("10.0.0.1", "web-0"), se_endpoint("192.0.2.7"))
    action = updated([ready_slice({"web-0": "10.0.0.1"})], *existing)
    assert action.after == (se_endpoint("10.0.0.1", "web-0"),)
    assert action.changes == (
        EndpointChange(None, DriftReason.EXTRA, before="192.0.2.7", after=None),
    )


def test_a_second_endpoint_for_one_pod_is_removed_keeping_the_one_at_its_address() -> None:
    existing = (
        se_endpoint("10.0.0.9", "web-0", weight=1),
        se_endpoint("10.0.0.1", "web-0", weight=2),
        se_endpoint("10.0.0.2", "web-1"),
    )
    action = updated([ready_slice(PODS)], *existing)
    assert action.after == (se_endpoint("10.0.0.1", "web-0", weight=2), existing[2])
    assert action.changes == (
        EndpointChange("web-0", DriftReason.EXTRA, before="10.0.0.9", after=None),
    )


def test_a_pod_level_entry_drops_every_other_endpoint() -> None:
    existing = (
        se_endpoint("10.0.0.1", "web-0"),
        se_endpoint("10.0.0.2", "web-1", weight=4),
        se_endpoint("192.0.2.1", labels={"hand": "written"}),
    )
    action = updated([ready_slice(PODS)], *existing, pod="web-1")
    assert action.after == (existing[1],)
    assert {c.before for c in action.changes} == {"10.0.0.1", "192.0.2.1"}


def test_endpoints_are_written_in_natural_pod_order() -> None:
    pods = {"web-10": "10.0.0.10", "web-2": "10.0.0.2", "web-1": "10.0.0.1"}
    existing = (se_endpoint("10.0.0.10", "web-10"), se_endpoint("10.0.0.99", "web-2"))
    action = updated([ready_slice(pods)], *existing)
    assert [(e.labels or {})[POD_NAME_LABEL] for e in action.after] == ["web-1", "web-2", "web-10"]


def test_an_entry_in_sync_plans_nothing() -> None:
    existing = (se_endpoint("10.0.0.1", "web-0"), se_endpoint("10.0.0.2", "web-1"))
    assert planned([ready_slice(PODS)], *existing) is None


def test_a_different_order_alone_is_not_a_change() -> None:
    existing = (se_endpoint("10.0.0.2", "web-1"), se_endpoint("10.0.0.1", "web-0"))
    assert planned([ready_slice(PODS)], *existing) is None


def test_the_update_names_the_resource_version_and_the_list_before() -> None:
    existing = (se_endpoint("10.0.0.9", "web-0"),)
    action = updated([ready_slice({"web-0": "10.0.0.1"})], *existing)
    assert action.resource_version == "7"
    assert action.before == existing
    assert str(action.key) == "ServiceEntry/prod/web-se"
