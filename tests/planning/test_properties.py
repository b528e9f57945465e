"""Properties of the planner over generated worlds (hypothesis).

A world is a headless Service ``prod/web`` whose pods are spread over
EndpointSlices at random: ready, not ready, terminating or without a
readiness condition, dual-stack or not, sometimes listed twice (a second
incarnation, or an IP recycled between pods), beside multicluster, FQDN and
other Services' slices; and a ServiceEntry whose endpoints are any mix of
current, stale, hand-written and duplicated ones, each with user fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.models.projections import (
    Condition,
    Endpoint,
    EndpointSlice,
    ServiceEntry,
    WorkloadEntry,
    WorkloadSpec,
)
from reconciler.models.refs import ObjectKey
from reconciler.planning import (
    PlanningSettings,
    applied_to_service_entry,
    applied_to_workload_entry,
    plan,
    service_entry_key,
    workload_entry_key,
)
from reconciler.planning.desired import MULTICLUSTER_SERVICE_LABEL
from reconciler.planning.plans import Action, NoWrite, UpdateServiceEntryEndpoints, Verdict
from reconciler.planning.recycled import recycled_removals
from reconciler.planning.references import (
    AUTO_REGISTRATION_ANNOTATION,
    HEALTH_CHECKS_ANNOTATION,
    IGNORE_ANNOTATION,
    IP_FAMILY_ANNOTATION,
    POD_NAME_LABEL,
)

from .builders import (
    NOW,
    NOW_TIMESTAMP,
    annotated_entry,
    endpoint_slice,
    healthy,
    namespace,
    plan_one,
    pod_endpoint,
    se_endpoint,
    service,
    service_entry,
    workload_entry,
)
from .conftest import Cached, FakeView

NO_GUARD = PlanningSettings(removal_grace=0)
PODS = [f"web-{i}" for i in range(12)]
STATES = st.sampled_from(["ready", "ready", "unknown", "not-ready", "terminating"])
V4 = st.integers(1, 20).map(lambda i: f"10.0.0.{i}")
V6 = st.integers(1, 20).map(lambda i: f"fd00::{i:x}")


def listed(pod: str | None, address: str, state: str, uid: str) -> Endpoint:
    ready = {"ready": True, "unknown": None}.get(state, False)
    return pod_endpoint(
        pod, address, ready=ready, terminating=state == "terminating" or None, uid=uid
    )


@st.composite
def slices(draw: st.DrawFn) -> list[EndpointSlice]:
    """The Service's slices, the endpoints dealt over 1-3 slices per family, plus noise."""
    result: list[EndpointSlice] = []
    for family, addresses in (("IPv4", V4), ("IPv6", V6)):
        pods = draw(st.lists(st.sampled_from(PODS), unique=True, max_size=8))
        endpoints = [
            listed(pod, draw(addresses), draw(STATES), uid=f"{pod}-{draw(st.integers(0, 1))}")
            for pod in pods + draw(st.lists(st.sampled_from(PODS), max_size=2))
        ]
        count = draw(st.integers(1, 3))
        dealt = [draw(st.integers(0, count - 1)) for _ in endpoints]
        for index in range(count):
            mine = [e for e, slot in zip(endpoints, dealt, strict=True) if slot == index]
            result.append(endpoint_slice(*mine, address_type=family))
    result.append(
        endpoint_slice(
            pod_endpoint("web-99", "10.9.9.9"), labels={MULTICLUSTER_SERVICE_LABEL: "web"}
        )
    )
    result.append(endpoint_slice(pod_endpoint("web-98", "web.example"), address_type="FQDN"))
    result.append(endpoint_slice(pod_endpoint("db-0", "10.0.0.1"), service="db"))
    return result


USER_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "labels": st.dictionaries(st.sampled_from(["version", "zone", "team"]), st.just("x")),
        "ports": st.dictionaries(st.sampled_from(["http", "grpc"]), st.integers(1, 65535)),
        "weight": st.integers(0, 100),
        "locality": st.just("eu/west"),
        "network": st.just("net-1"),
        "service_account": st.just("web-sa"),
    },
)


@st.composite
def existing_endpoints(draw: st.DrawFn) -> tuple[WorkloadSpec, ...]:
    """Labelled, unlabelled, stale and hand-written endpoints, each with user fields."""
    endpoints = []
    for _ in range(draw(st.integers(0, 8))):
        pod = draw(st.none() | st.sampled_from(PODS))
        address = draw(V4 | V6 | st.just("192.0.2.1"))
        endpoints.append(se_endpoint(address, pod, **draw(USER_FIELDS)))
    return tuple(endpoints)


@st.composite
def service_entries(draw: st.DrawFn) -> ServiceEntry:
    family = draw(st.sampled_from([{}, {IP_FAMILY_ANNOTATION: "IPv6"}]))
    return annotated_entry(
        pod=draw(st.none() | st.sampled_from(PODS)),
        annotations=family,
        endpoints=draw(existing_endpoints()),
        ports=draw(st.sampled_from([{"http": 80}, {"http": 80, "grpc": 9090}])),
    )


def view_of(objects: list[EndpointSlice]) -> FakeView:
    return FakeView([namespace(), service(ip_families=("IPv4", "IPv6")), *objects])


@settings(max_examples=100, deadline=None)
@given(slices(), service_entries())
def test_applying_a_plan_and_planning_again_plans_nothing(
    world: list[EndpointSlice], entry: ServiceEntry
) -> None:
    view = view_of(world)
    action = plan_one(view, entry, settings=NO_GUARD)
    assert not isinstance(action, NoWrite), action
    assert plan_one(view, applied_to_service_entry(entry, action), settings=NO_GUARD) is None


@settings(max_examples=100, deadline=None)
@given(slices(), service_entries())
def test_the_guard_delays_a_change_but_never_alters_it(
    world: list[EndpointSlice], entry: ServiceEntry
) -> None:
    view = view_of(world)
    immediate = plan_one(view, entry, settings=NO_GUARD)
    guarded = plan_one(view, entry)
    if isinstance(guarded, NoWrite):
        assert guarded.verdict is Verdict.HELD
        assert isinstance(immediate, UpdateServiceEntryEndpoints)
        assert guarded.changes == immediate.changes
        held = {service_entry_key(entry): NOW - 30}
        assert plan_one(view, entry, held_since=held) == immediate
    elif guarded != immediate:
        # Only a recycled address may leave early: another pod holds it now.
        assert isinstance(guarded, UpdateServiceEntryEndpoints)
        assert isinstance(immediate, UpdateServiceEntryEndpoints)
        assert set(guarded.changes) < set(immediate.changes)
        assert guarded.changes == recycled_removals(
            immediate.changes, view=view, namespace=entry.metadata.namespace
        )
        gone = {change.before for change in guarded.changes}
        assert guarded.after == tuple(e for e in guarded.before if e.address not in gone)


@settings(max_examples=100, deadline=None)
@given(slices(), service_entries(), st.randoms(use_true_random=False))
def test_the_plan_is_the_same_for_any_order_of_slices_and_endpoints(
    world: list[EndpointSlice], entry: ServiceEntry, random: Random
) -> None:
    shuffled = []
    for endpoint_slice_ in world:
        endpoints = list(endpoint_slice_.endpoints or ())
        random.shuffle(endpoints)
        shuffled.append(_with_endpoints(endpoint_slice_, endpoints))
    random.shuffle(shuffled)
    assert plan_one(view_of(shuffled), entry) == plan_one(view_of(world), entry)


@settings(max_examples=100, deadline=None)
@given(slices(), service_entries())
def test_user_fields_of_endpoints_that_stay_are_preserved(
    world: list[EndpointSlice], entry: ServiceEntry
) -> None:
    action = plan_one(view_of(world), entry, settings=NO_GUARD)
    if not isinstance(action, UpdateServiceEntryEndpoints):
        return
    for after in action.after:
        pod = (after.labels or {})[POD_NAME_LABEL]
        labelled = [e for e in action.before if (e.labels or {}).get(POD_NAME_LABEL) == pod]
        if len(labelled) != 1:
            continue
        (before,) = labelled
        assert (after.ports, after.weight, after.locality, after.network) == (
            before.ports,
            before.weight,
            before.locality,
            before.network,
        )
        assert after.service_account == before.service_account
        assert (before.labels or {}).items() <= (after.labels or {}).items()


def _with_endpoints(endpoint_slice_: EndpointSlice, endpoints: list[Endpoint]) -> EndpointSlice:
    return msgspec.structs.replace(endpoint_slice_, endpoints=tuple(endpoints) or None)


# -- only opted-in objects are ever named -----------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    entry: ServiceEntry | WorkloadEntry
    opted_in: bool


STALE = (se_endpoint("10.0.0.200", "web-0"),)
SERVICE_ENTRY_KINDS = {
    "annotated": (lambda n, ns: annotated_entry(name=n, namespace=ns, endpoints=STALE), True),
    "pod-annotated": (
        lambda n, ns: annotated_entry(name=n, namespace=ns, pod="web-1", endpoints=STALE),
        True,
    ),
    "plain": (lambda n, ns: service_entry(n, namespace=ns, hosts=("web",), endpoints=STALE), None),
    "ignored": (
        lambda n, ns: annotated_entry(
            name=n, namespace=ns, annotations={IGNORE_ANNOTATION: "true"}, endpoints=STALE
        ),
        False,
    ),
    "dns-by-host": (
        lambda n, ns: service_entry(
            n, namespace=ns, hosts=("web",), resolution="DNS", endpoints=STALE
        ),
        False,
    ),
    "external-host": (
        lambda n, ns: service_entry(n, namespace=ns, hosts=("api.example.com",), endpoints=STALE),
        False,
    ),
}
WORKLOAD_ENTRY_KINDS = {
    "annotated": (lambda n, ns: workload_entry(n, namespace=ns, address="10.0.0.200"), True),
    "plain": (lambda n, ns: workload_entry(n, namespace=ns, pod=None), False),
    "auto-registered": (
        lambda n, ns: workload_entry(
            n, namespace=ns, pod=None, annotations={AUTO_REGISTRATION_ANNOTATION: "web"}
        ),
        False,
    ),
    "ignored": (
        lambda n, ns: workload_entry(n, namespace=ns, annotations={IGNORE_ANNOTATION: "true"}),
        False,
    ),
}


@st.composite
def candidates(draw: st.DrawFn) -> list[Candidate]:
    """Entries in a managed (``auto``) and an unmanaged (``manual``) namespace."""
    found = []
    kinds = [*SERVICE_ENTRY_KINDS.items(), *WORKLOAD_ENTRY_KINDS.items()]
    for index in range(draw(st.integers(1, 10))):
        name, (build, opted_in) = draw(st.sampled_from(kinds))
        ns = draw(st.sampled_from(["auto", "manual"]))
        entry = build(f"{name}-{index}", ns)
        found.append(Candidate(entry, ns == "auto" if opted_in is None else opted_in))
    return found


def key_of(entry: ServiceEntry | WorkloadEntry) -> ObjectKey:
    if isinstance(entry, ServiceEntry):
        return service_entry_key(entry)
    return workload_entry_key(entry)


@settings(max_examples=100, deadline=None)
@given(candidates())
def test_the_plan_never_names_an_object_that_did_not_opt_in(found: list[Candidate]) -> None:
    objects: list[Cached] = [namespace("auto", managed=True), namespace("manual")]
    for ns in ("auto", "manual"):
        objects += [
            service(namespace=ns),
            endpoint_slice(
                pod_endpoint("web-0", "10.0.0.1"), pod_endpoint("web-1", "10.0.0.2"), namespace=ns
            ),
        ]
    view = FakeView([*objects, *(c.entry for c in found)])
    result = plan(
        [key_of(c.entry) for c in found],
        view=view,
        settings=PlanningSettings(),
        now=NOW,
        now_timestamp=NOW_TIMESTAMP,
        holds={},
    )
    opted_in = {key_of(c.entry) for c in found if c.opted_in}
    assert {action.key for action in result} == opted_in


# -- WorkloadEntries converge too --------------------------------------------------------------


@st.composite
def workload_entries(draw: st.DrawFn) -> WorkloadEntry:
    annotations = draw(
        st.fixed_dictionaries(
            {},
            optional={
                HEALTH_CHECKS_ANNOTATION: st.sampled_from(["true", "false"]),
                IP_FAMILY_ANNOTATION: st.sampled_from(["IPv4", "IPv6"]),
            },
        )
    )
    conditions: tuple[Condition, ...] | None = draw(
        st.sampled_from(
            [None, (), (healthy("True"),), (healthy("False"),), (Condition(type="Other"),)]
        )
    )
    return workload_entry(
        pod=draw(st.sampled_from(PODS)),
        address=draw(st.none() | V4 | V6),
        annotations=annotations,
        conditions=conditions,
    )


@settings(max_examples=100, deadline=None)
@given(slices(), workload_entries())
def test_a_workload_entry_converges_after_one_plan(
    world: list[EndpointSlice], entry: WorkloadEntry
) -> None:
    view = view_of(world)
    action = plan_one(view, entry)
    again = plan_one(view, applied_to_workload_entry(entry, action))
    assert again is None or _is_report_only(again), again


def _is_report_only(action: Action) -> bool:
    return isinstance(action, NoWrite) and action.verdict is Verdict.NO_ADDRESS
