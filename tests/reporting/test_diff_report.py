"""What ``diff`` reports for a world: the controller's plan, with drift, holds and requests."""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.applying.patches import service_entry_patch
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import UpdateServiceEntryEndpoints, Verdict
from reconciler.planning.references import POD_ANNOTATION, SERVICE_ANNOTATION
from reconciler.planning.settings import PlanningSettings
from reconciler.reporting.diff import DiffReport, Request, diff_view
from reconciler.reporting.rendering import (
    describe_action,
    diff_document,
    diff_summary,
    diff_text,
)
from reconciler.reporting.scope import Scope

from .golden_world import WEB_PODS, golden_world
from .world import NOW_TIMESTAMP, World, endpoint


def report_of(world: World, **settings: object) -> DiffReport:
    return diff_view(
        world.cache(),
        world.keys(),
        settings=dataclasses.replace(PlanningSettings(), **settings),
        now_timestamp=NOW_TIMESTAMP,
        scope=Scope(),
    )


def web_world(*endpoints_: object) -> World:
    world = World()
    world.namespace()
    world.headless_service("web", pods=WEB_PODS)
    world.service_entry(
        "web-static", annotations={SERVICE_ANNOTATION: "web"}, endpoints=list(endpoints_)
    )
    return world


def in_sync() -> list[object]:
    return [endpoint(address, pod) for pod, address in WEB_PODS.items()]


def se(name: str, namespace: str = "shop") -> ObjectKey:
    return ObjectKey(Kind.SERVICE_ENTRY, namespace, name)


def test_a_world_in_sync_has_no_drift_and_says_how_much_was_checked() -> None:
    report = report_of(web_world(*in_sync()))

    assert not report.drift
    assert report.objects == ()
    assert diff_summary(report) == "No changes (1 ServiceEntry, 1 Service checked)"


def test_an_empty_scope_says_so() -> None:
    report = report_of(World())

    assert not report.drift
    assert diff_summary(report) == (
        "No changes (no ServiceEntries, WorkloadEntries or Services in scope)"
    )


def test_unmanaged_entries_are_checked_but_never_reported() -> None:
    world = web_world(*in_sync())
    world.service_entry("hand-kept", endpoints=[endpoint("10.9.9.9")])

    report = report_of(world)

    assert report.objects == ()
    assert report.checked == {Kind.SERVICE_ENTRY: 2, Kind.SERVICE: 1}


def test_a_stale_endpoint_is_drift_with_the_exact_patch_run_would_send() -> None:
    world = web_world(*in_sync()[:1], endpoint("10.244.1.3", "web-1"), *in_sync()[2:])

    report = report_of(world)

    (diff,) = report.objects
    assert report.drift
    assert isinstance(diff.action, UpdateServiceEntryEndpoints)
    assert diff.requests == (
        Request(
            "PATCH",
            "/apis/networking.istio.io/v1/namespaces/shop/serviceentries/web-static",
            service_entry_patch(diff.action),
            content_type="application/merge-patch+json",
        ),
    )
    assert diff.before is not None
    assert diff.after is not None
    assert diff.before["spec"]["endpoints"][1]["address"] == "10.244.1.3"
    assert diff.after["spec"]["endpoints"][1]["address"] == "10.244.1.11"
    assert report.changing() == {Kind.SERVICE_ENTRY: 1}


def test_the_header_says_what_and_why_in_the_line_run_logs() -> None:
    world = web_world(*in_sync()[:1], endpoint("10.244.1.3", "web-1"), *in_sync()[2:])

    (diff,) = report_of(world).objects

    assert describe_action(diff.action) == (
        "ServiceEntry shop/web-static: update endpoints: web-1: 10.244.1.3 -> 10.244.1.11"
    )


def test_a_mass_removal_is_held_with_no_history_and_still_counts_as_drift() -> None:
    world = World()
    world.namespace()
    world.headless_service("web", pods={})
    world.service_entry("web-static", annotations={SERVICE_ANNOTATION: "web"}, endpoints=in_sync())

    report = report_of(world)

    (diff,) = report.objects
    assert report.drift
    assert report.withheld() == {Verdict.HELD: 1}
    assert report.changing() == {}
    assert diff.after == {"spec": {"endpoints": []}}, "shows what the hold would let through"
    assert diff_summary(report) == "Nothing would change now; 1 held (mass removal)"
    assert "(once the hold ends)" in diff_text(report)


def test_with_no_removal_grace_a_mass_removal_is_a_plain_change() -> None:
    world = World()
    world.namespace()
    world.headless_service("web", pods={})
    world.service_entry("web-static", annotations={SERVICE_ANNOTATION: "web"}, endpoints=in_sync())

    report = report_of(world, removal_grace=0.0)

    assert report.changing() == {Kind.SERVICE_ENTRY: 1}
    assert report.withheld() == {}


@pytest.mark.parametrize(
    ("annotations", "resolution", "verdict"),
    [
        ({SERVICE_ANNOTATION: "ledger/db"}, "STATIC", Verdict.REFUSED),
        ({SERVICE_ANNOTATION: "web"}, "DNS", Verdict.NOT_RECONCILABLE),
        ({SERVICE_ANNOTATION: "missing"}, "STATIC", Verdict.REFUSED),
    ],
)
def test_refusals_without_drift_are_listed_with_their_reason_but_are_not_drift(
    annotations: dict[str, str], resolution: str, verdict: Verdict
) -> None:
    world = web_world(*in_sync())
    world.service_entry("asked", annotations=annotations, resolution=resolution)

    report = report_of(world)

    (diff,) = report.objects
    assert diff.key == se("asked")
    assert report.withheld() == {verdict: 1}
    assert not report.drift
    assert diff.requests == ()
    assert diff.action.message in describe_action(diff.action)


def test_a_workload_entry_whose_pod_has_no_ready_address_is_drift_without_a_write() -> None:
    world = web_world(*in_sync())
    world.workload_entry("web-9", address="10.244.1.99", annotations={POD_ANNOTATION: "web-9"})

    report = report_of(world)

    (diff,) = report.objects
    assert report.drift
    assert report.withheld() == {Verdict.NO_ADDRESS: 1}
    assert diff.requests == ()


def test_the_golden_world_summary_counts_each_kind_and_verdict() -> None:
    report = report_of(golden_world())

    assert diff_summary(report) == (
        "1 ServiceEntry, 2 WorkloadEntries, 3 Services would change; 1 refused, "
        "1 held (mass removal), 1 not reconcilable, 1 in conflict, 1 waiting for a ready pod; "
        "1 note"
    )


def test_an_address_and_health_change_is_two_patches_spec_then_status() -> None:
    world = web_world(*in_sync())
    world.workload_entry(
        "web-1",
        address="10.244.1.3",
        annotations={POD_ANNOTATION: "web-1", "proxy.istio.io/health-checks-enabled": "true"},
    )

    (diff,) = report_of(world).objects

    assert [request.subresource for request in diff.requests] == [None, "status"]
    assert diff.requests[1].path.endswith("/namespaces/shop/workloadentries/web-1/status")
    assert diff.requests[0].body["spec"] == {"address": "10.244.1.11"}
    assert diff.requests[1].body["status"]["conditions"][0]["status"] == "True"
    assert diff.before is not None
    assert set(diff.before) == {"spec", "status"}


def test_the_json_document_has_every_key_even_when_empty() -> None:
    document = diff_document(report_of(web_world(*in_sync())))

    assert document["version"] == 1
    assert document["drift"] is False
    assert document["objects"] == []
    assert document["summary"]["checked"] == {"ServiceEntry": 1, "WorkloadEntry": 0, "Service": 1}
    assert document["summary"]["changing"] == {"ServiceEntry": 0, "WorkloadEntry": 0, "Service": 0}
    assert set(document["summary"]["withheld"]) == {str(v) for v in Verdict}
    assert document["summary"]["notes"] == 0
    assert document["notes"] == []


def test_every_object_in_the_json_document_has_the_same_keys() -> None:
    document = diff_document(report_of(golden_world()))

    keys = {tuple(obj) for obj in document["objects"]}
    assert keys == {
        (
            "kind",
            "namespace",
            "name",
            "action",
            "verdict",
            "reason",
            "drift",
            "changes",
            "before",
            "after",
            "patches",
            "source",
        )
    }
    requests = [request for obj in document["objects"] for request in obj["patches"]]
    assert {tuple(request) for request in requests} == {
        ("method", "path", "subresource", "contentType", "body")
    }
