"""``audit``: each kind of finding, what it names, and what is left alone."""

from __future__ import annotations

import pytest

from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.references import (
    AUTO_REGISTRATION_ANNOTATION,
    IGNORE_ANNOTATION,
    POD_ANNOTATION,
    POD_NAME_LABEL,
    SERVICE_ANNOTATION,
)
from reconciler.planning.settings import PlanningSettings
from reconciler.reporting.audit import (
    AuditReport,
    EntryAudit,
    Management,
    PodRef,
    Problem,
    audit,
    unmanaged_stale_addresses,
)
from reconciler.reporting.rendering import audit_summary
from reconciler.reporting.scope import Scope

from .audit_world import RECYCLED, WEB_PODS, audit_world
from .world import World, endpoint

WEB_1_NOW = WEB_PODS["web-1"]


def audit_of(world: World) -> AuditReport:
    cache = world.cache()
    return audit(
        service_entries=cache.service_entries,
        workload_entries=cache.workload_entries,
        slices=cache.endpoint_slices,
        view=cache,
        settings=PlanningSettings(),
        scope=Scope(),
    )


def base_world(*, db_pods: dict[str, str] | None = None) -> World:
    """``shop/web`` (web-0..2 ready) and ``ledger/db``; web-1 used to be at 10.244.1.3."""
    world = World()
    world.namespace("shop")
    world.namespace("ledger")
    world.headless_service("web", pods=WEB_PODS)
    world.headless_service("db", namespace="ledger", pods=db_pods or {"db-0": "10.244.2.20"})
    return world


def only(report: AuditReport, name: str) -> EntryAudit:
    (found,) = [entry for entry in report.entries if entry.key.name == name]
    return found


def listing(*addresses: str) -> list[object]:
    return [endpoint(address) for address in addresses]


def test_a_clean_world_has_no_problems() -> None:
    world = base_world()
    world.service_entry(
        "web-static",
        annotations={SERVICE_ANNOTATION: "web"},
        endpoints=[endpoint(address, pod) for pod, address in WEB_PODS.items()],
    )
    world.workload_entry("web-1", address=WEB_1_NOW, annotations={POD_ANNOTATION: "web-1"})

    report = audit_of(world)

    assert not report.problems
    assert report.entries == ()
    assert audit_summary(report) == (
        "No stale or recycled addresses (1 ServiceEntry, 1 WorkloadEntry checked)"
    )


def test_an_address_no_pod_holds_is_stale_and_names_the_one_pod_the_entry_lacks() -> None:
    world = base_world()
    world.service_entry(
        "hand-kept", endpoints=listing(WEB_PODS["web-0"], "10.244.9.9", WEB_PODS["web-2"])
    )

    (finding,) = only(audit_of(world), "hand-kept").findings

    assert finding.problem is Problem.STALE
    assert finding.address == "10.244.9.9"
    assert finding.meant == (PodRef("shop", "web-1", WEB_1_NOW),)


def test_when_several_pods_are_missing_every_candidate_is_named() -> None:
    world = base_world()
    world.service_entry("hand-kept", endpoints=listing(WEB_PODS["web-0"], "10.244.9.9"))

    (finding,) = only(audit_of(world), "hand-kept").findings

    assert [pod.name for pod in finding.meant] == ["web-1", "web-2"]


def test_an_address_now_held_by_a_pod_of_another_workload_is_recycled() -> None:
    world = base_world(db_pods={"db-0": RECYCLED})
    world.service_entry(
        "hand-kept",
        endpoints=[endpoint(WEB_PODS["web-0"], "web-0"), endpoint(RECYCLED, "web-1")],
    )

    (finding,) = only(audit_of(world), "hand-kept").findings

    assert finding.problem is Problem.RECYCLED
    assert finding.held_by == PodRef("ledger", "db-0", RECYCLED)
    assert finding.meant == (PodRef("shop", "web-1", WEB_1_NOW),)
    assert "ledger/db-0" in finding.message


def test_a_pod_level_entry_pointing_at_a_sibling_pod_is_recycled() -> None:
    world = base_world()
    world.service_entry(
        "web-1-only",
        hosts=["web-1.web.shop.svc.cluster.local"],
        endpoints=listing(WEB_PODS["web-2"]),
    )

    (finding,) = only(audit_of(world), "web-1-only").findings

    assert finding.problem is Problem.RECYCLED
    assert finding.held_by == PodRef("shop", "web-2", WEB_PODS["web-2"])
    assert finding.meant == (PodRef("shop", "web-1", WEB_1_NOW),)


def test_the_address_of_a_pod_that_is_not_ready_is_stale() -> None:
    world = World()
    world.namespace("shop")
    world.headless_service("web", pods={"web-0": "10.244.1.10"}, not_ready={"web-1": "10.244.1.11"})
    world.service_entry("hand-kept", endpoints=listing("10.244.1.10", "10.244.1.11"))

    (finding,) = only(audit_of(world), "hand-kept").findings

    assert finding.problem is Problem.STALE
    assert "not ready" in finding.message
    assert finding.meant == (PodRef("shop", "web-1"),)


def test_an_unmanaged_entry_gets_the_annotation_that_lets_the_controller_keep_it() -> None:
    world = base_world()
    world.service_entry("hand-kept", endpoints=listing("10.244.9.9"))

    entry = only(audit_of(world), "hand-kept")

    assert entry.management is Management.UNMANAGED
    assert entry.fix is not None
    assert entry.fix.command(entry.key) == (
        "kubectl annotate serviceentry -n shop hand-kept headless-reconciler.io/service=web"
    )


def test_a_pod_level_fix_names_the_pod_too() -> None:
    world = base_world()
    world.service_entry(
        "web-1-only", hosts=["web-1.web.shop.svc.cluster.local"], endpoints=listing("10.244.9.9")
    )

    entry = only(audit_of(world), "web-1-only")

    assert entry.fix is not None
    assert dict(entry.fix.annotations) == {SERVICE_ANNOTATION: "web", POD_ANNOTATION: "web-1"}


def test_a_cross_namespace_fix_says_which_pair_to_allow() -> None:
    world = base_world()
    world.service_entry(
        "db-copy",
        hosts=["db.ledger.svc.cluster.local"],
        endpoints=listing("10.244.9.9"),
    )

    entry = only(audit_of(world), "db-copy")

    assert entry.fix is not None
    assert dict(entry.fix.annotations) == {SERVICE_ANNOTATION: "ledger/db"}
    assert entry.fix.allow_cross_namespace == "shop=ledger"


def test_a_managed_entry_is_reported_but_gets_no_fix_and_does_not_count_as_unmanaged() -> None:
    world = base_world()
    world.service_entry(
        "web-static", annotations={SERVICE_ANNOTATION: "web"}, endpoints=listing("10.244.9.9")
    )

    report = audit_of(world)
    entry = only(report, "web-static")

    assert entry.management is Management.MANAGED
    assert entry.fix is None
    assert "run repairs it" in entry.note
    assert report.problems
    assert unmanaged_stale_addresses(report) == {}


def test_a_refused_entry_says_why_the_controller_will_not_repair_it() -> None:
    world = base_world()
    world.service_entry(
        "db-copy",
        annotations={SERVICE_ANNOTATION: "ledger/db"},
        endpoints=listing("10.244.9.9"),
    )

    entry = only(audit_of(world), "db-copy")

    assert entry.management is Management.REFUSED
    assert "--allow-cross-namespace shop=ledger" in entry.note
    assert entry.fix is None


def test_an_entry_that_opted_out_is_reported_without_a_fix() -> None:
    world = base_world()
    world.service_entry(
        "hand-kept", annotations={IGNORE_ANNOTATION: "true"}, endpoints=listing("10.244.9.9")
    )

    entry = only(audit_of(world), "hand-kept")

    assert entry.fix is None
    assert IGNORE_ANNOTATION in entry.note


@pytest.mark.parametrize(
    ("hosts", "resolution", "selector"),
    [
        (["api.example.com"], "STATIC", None),
        (["web.shop.svc.cluster.local"], "DNS", None),
        (["web.shop.svc.cluster.local"], "STATIC", {"app": "web"}),
    ],
    ids=["names-no-service", "dns", "workload-selector"],
)
def test_entries_that_do_not_list_pod_addresses_are_not_judged(
    hosts: list[str], resolution: str, selector: dict[str, str] | None
) -> None:
    world = base_world()
    world.service_entry(
        "other",
        hosts=hosts,
        resolution=resolution,
        workload_selector=selector,
        endpoints=listing("203.0.113.7") if selector is None else (),
    )

    assert audit_of(world).entries == ()


@pytest.mark.parametrize(
    ("name", "labels", "annotations", "problem", "meant"),
    [
        ("by-annotation", {"app": "web"}, {POD_ANNOTATION: "web-1"}, Problem.RECYCLED, "web-1"),
        ("by-label", {"app": "web", POD_NAME_LABEL: "web-1"}, {}, Problem.RECYCLED, "web-1"),
        ("unnamed-foreign", {"app": "web"}, {}, Problem.RECYCLED, None),
    ],
)
def test_a_workload_entry_holding_a_recycled_address_is_found(
    name: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    problem: Problem,
    meant: str | None,
) -> None:
    world = base_world(db_pods={"db-0": RECYCLED})
    world.workload_entry(name, address=RECYCLED, labels=labels, annotations=annotations)

    (finding,) = only(audit_of(world), name).findings

    assert finding.problem is problem
    assert finding.held_by == PodRef("ledger", "db-0", RECYCLED)
    assert [pod.name for pod in finding.meant] == ([meant] if meant else [])


def test_a_workload_entry_naming_its_pod_at_an_address_nobody_holds_is_stale() -> None:
    world = base_world()
    world.workload_entry("web-1", address="10.244.1.3", labels={POD_NAME_LABEL: "web-1"})

    entry = only(audit_of(world), "web-1")

    (finding,) = entry.findings
    assert finding.problem is Problem.STALE
    assert finding.meant == (PodRef("shop", "web-1", WEB_1_NOW),)
    assert entry.fix is not None
    assert entry.fix.command(entry.key) == (
        "kubectl annotate workloadentry -n shop web-1 headless-reconciler.io/pod=web-1"
    )


@pytest.mark.parametrize(
    ("address", "labels"),
    [
        ("192.168.5.5", {"app": "legacy"}),
        (WEB_PODS["web-1"], {"app": "web"}),
    ],
    ids=["vm-address", "pod-of-its-own-workload"],
)
def test_workload_entries_that_name_no_pod_are_left_alone_unless_a_stranger_holds_the_address(
    address: str, labels: dict[str, str]
) -> None:
    world = base_world()
    world.workload_entry("vm", address=address, labels=labels)

    assert audit_of(world).entries == ()


def test_auto_registered_workload_entries_are_not_checked() -> None:
    world = base_world()
    world.workload_entry(
        "vm", address="10.244.9.9", annotations={AUTO_REGISTRATION_ANNOTATION: "group"}
    )

    report = audit_of(world)

    assert report.entries == ()
    assert report.checked == {}


def test_an_unmanaged_entry_of_one_local_service_gets_workload_selector_advice() -> None:
    world = base_world()
    world.service_entry("all-right", endpoints=[endpoint(address) for address in WEB_PODS.values()])

    report = audit_of(world)
    entry = only(report, "all-right")

    assert entry.workload_selector == {"app": "web"}
    assert entry.findings == ()
    assert not report.problems, "advice is not a problem"


@pytest.mark.parametrize(
    ("hosts", "location", "annotations"),
    [
        (["db.ledger.svc.cluster.local"], "MESH_INTERNAL", {}),
        (["web.shop.svc.cluster.local"], "MESH_EXTERNAL", {}),
        (["web.shop.svc.cluster.local"], "MESH_INTERNAL", {SERVICE_ANNOTATION: "web"}),
    ],
    ids=["other-namespace", "mesh-external", "managed"],
)
def test_no_workload_selector_advice_where_istio_could_not_use_it_or_the_controller_keeps_it(
    hosts: list[str], location: str, annotations: dict[str, str]
) -> None:
    world = base_world()
    world.service_entry(
        "entry", hosts=hosts, location=location, annotations=annotations, endpoints=()
    )

    assert audit_of(world).entries == ()


def test_unmanaged_stale_addresses_are_counted_by_kind_and_namespace_for_the_metric() -> None:
    report = audit_of(audit_world())

    assert unmanaged_stale_addresses(report) == {
        (Kind.SERVICE_ENTRY, "shop"): 2,
        (Kind.WORKLOAD_ENTRY, "shop"): 1,
    }


def test_entries_are_reported_in_key_order() -> None:
    keys = [entry.key for entry in audit_of(audit_world()).entries]

    assert keys == sorted(keys)
    assert ObjectKey(Kind.SERVICE_ENTRY, "shop", "external") not in keys
