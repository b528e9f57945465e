"""SPEC section 3: a WorkloadEntry's address follows its pod; its health, when asked, too."""

from __future__ import annotations

import pytest

from reconciler.models.projections import Condition, WorkloadEntry
from reconciler.planning.plans import (
    DriftReason,
    EndpointChange,
    NoWrite,
    SetWorkloadEntryHealth,
    UpdateWorkloadEntryAddress,
    Verdict,
)
from reconciler.planning.references import HEALTH_CHECKS_ANNOTATION, IP_FAMILY_ANNOTATION

from .builders import (
    NOW_TIMESTAMP,
    endpoint_slice,
    healthy,
    namespace,
    plan_one,
    pod_endpoint,
    ready_slice,
    service,
    workload_entry,
)
from .conftest import Cached, FakeView

HEALTH_CHECKED = {HEALTH_CHECKS_ANNOTATION: "true"}
READY = ready_slice({"web-0": "10.0.0.5"})
NOT_READY = endpoint_slice(pod_endpoint("web-0", "10.0.0.5", ready=False))


def view_of(*objects: Cached) -> FakeView:
    return FakeView([namespace(), service(), *objects])


def test_the_address_follows_the_pods_ready_address() -> None:
    action = plan_one(view_of(READY), workload_entry(address="10.0.0.1"))
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert (action.pod, action.before, action.after, action.resource_version) == (
        "web-0",
        "10.0.0.1",
        "10.0.0.5",
        "9",
    )
    assert action.changes == (
        EndpointChange("web-0", DriftReason.STALE, before="10.0.0.1", after="10.0.0.5"),
    )
    assert action.health is None


def test_an_entry_at_its_pods_address_plans_nothing() -> None:
    assert plan_one(view_of(READY), workload_entry(address="10.0.0.5")) is None


def test_an_entry_without_an_address_gets_its_pods() -> None:
    action = plan_one(view_of(READY), workload_entry(address=None))
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.changes[0].reason is DriftReason.MISSING


@pytest.mark.parametrize(
    "objects",
    [
        pytest.param([NOT_READY], id="the pod is not ready"),
        pytest.param(
            [endpoint_slice(pod_endpoint("web-0", "10.0.0.5", ready=False, terminating=True))],
            id="the pod is terminating",
        ),
        pytest.param([], id="the pod is gone"),
        pytest.param(
            [ready_slice({"web-0": "fd00::5"}, address_type="IPv6")],
            id="the pod has no address of the wanted family",
        ),
    ],
)
def test_without_a_ready_address_the_address_is_kept_and_reported_missing(
    objects: list[Cached],
) -> None:
    action = plan_one(view_of(*objects), workload_entry(address="10.0.0.1"))
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.NO_ADDRESS
    assert action.message == "pod prod/web-0 has no ready address; the entry keeps 10.0.0.1"
    assert action.changes == (
        EndpointChange("web-0", DriftReason.MISSING, before="10.0.0.1", after=None),
    )


def test_ip_family_ipv6_selects_the_pods_ipv6_address() -> None:
    objects = [READY, ready_slice({"web-0": "fd00::5"}, address_type="IPv6")]
    entry = workload_entry(annotations={IP_FAMILY_ANNOTATION: "IPv6"})
    action = plan_one(view_of(*objects), entry)
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.after == "fd00::5"


def test_a_pod_of_an_ipv6_only_service_gets_its_ipv6_address_by_default() -> None:
    view = FakeView(
        [
            namespace(),
            service(ip_families=("IPv6",)),
            ready_slice({"web-0": "fd00::5"}, address_type="IPv6"),
        ]
    )
    action = plan_one(view, workload_entry())
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.after == "fd00::5"


def test_a_pod_named_only_by_hostname_is_found() -> None:
    objects = [endpoint_slice(pod_endpoint(None, "10.0.0.5", hostname="web-0"))]
    action = plan_one(view_of(*objects), workload_entry())
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.after == "10.0.0.5"


# -- health ------------------------------------------------------------------------------------


def health_checked(
    *, address: str = "10.0.0.5", conditions: tuple[Condition, ...] | None = None
) -> WorkloadEntry:
    return workload_entry(address=address, annotations=HEALTH_CHECKED, conditions=conditions)


def test_a_ready_pod_makes_a_health_checked_entry_healthy() -> None:
    action = plan_one(view_of(READY), health_checked())
    assert isinstance(action, SetWorkloadEntryHealth)
    assert action.before is None
    assert action.after == Condition(
        type="Healthy",
        status="True",
        reason="PodReady",
        message="pod web-0 is ready at 10.0.0.5",
        last_transition_time=NOW_TIMESTAMP,
    )
    assert action.conditions == (action.after,)


def test_a_healthy_entry_of_a_ready_pod_plans_nothing() -> None:
    assert plan_one(view_of(READY), health_checked(conditions=(healthy("True"),))) is None


def test_a_pod_no_longer_ready_makes_the_entry_unhealthy_keeping_its_address() -> None:
    before = healthy("True")
    action = plan_one(view_of(NOT_READY), health_checked(conditions=(before,)))
    assert isinstance(action, SetWorkloadEntryHealth)
    assert action.before == before
    assert (action.after.status, action.after.reason) == ("False", "PodNotReady")
    assert action.after.last_transition_time == NOW_TIMESTAMP
    assert action.changes == (
        EndpointChange("web-0", DriftReason.MISSING, before="10.0.0.5", after=None),
    )


def test_an_unhealthy_entry_of_a_pod_still_not_ready_is_reported_not_written() -> None:
    action = plan_one(view_of(NOT_READY), health_checked(conditions=(healthy("False"),)))
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.NO_ADDRESS


def test_a_new_address_is_written_first_then_the_entry_made_healthy() -> None:
    entry = health_checked(address="10.0.0.1", conditions=(healthy("False"),))
    action = plan_one(view_of(READY), entry)
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.after == "10.0.0.5"
    assert action.health is not None
    assert action.health.after.status == "True"


def test_a_new_address_of_a_healthy_entry_needs_no_health_write() -> None:
    entry = health_checked(address="10.0.0.1", conditions=(healthy("True"),))
    action = plan_one(view_of(READY), entry)
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.health is None


@pytest.mark.parametrize(
    "annotations",
    [pytest.param({}, id="absent"), pytest.param({HEALTH_CHECKS_ANNOTATION: "false"}, id="false")],
)
def test_without_health_checks_the_status_is_never_touched(annotations: dict[str, str]) -> None:
    was_healthy = workload_entry(annotations=annotations, conditions=(healthy("True"),))
    action = plan_one(view_of(NOT_READY), was_healthy)
    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.NO_ADDRESS
    never_healthy = workload_entry(address="10.0.0.5", annotations=annotations)
    assert plan_one(view_of(READY), never_healthy) is None


def test_other_conditions_are_kept_in_place() -> None:
    reconciled = Condition(type="Reconciled", status="True")
    probe = Condition(type="Probed", status="False")
    entry = health_checked(conditions=(reconciled, healthy("False"), probe))
    action = plan_one(view_of(READY), entry)
    assert isinstance(action, SetWorkloadEntryHealth)
    assert action.conditions == (reconciled, action.after, probe)


def test_the_condition_is_not_rewritten_while_its_status_holds() -> None:
    """Only a flip writes, so lastTransitionTime says when health last changed."""
    written_by_someone_else = Condition(type="Healthy", status="True", message="probe ok")
    entry = health_checked(conditions=(written_by_someone_else,))
    assert plan_one(view_of(READY), entry) is None
