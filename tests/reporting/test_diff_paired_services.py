"""What ``diff`` reports about paired Services: creates, updates, deletes, conflicts and notes."""

from __future__ import annotations

import dataclasses

import msgspec

from reconciler.applying.patches import paired_service_body, paired_service_patch
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.pairing import PORT_NAME_REASON
from reconciler.planning.plans import (
    CreatePairedService,
    DeletePairedService,
    NoWrite,
    UpdatePairedService,
    Verdict,
)
from reconciler.planning.references import GRPC_SERVICE_ANNOTATION
from reconciler.planning.settings import PlanningSettings
from reconciler.reporting.diff import DiffReport, Request, diff_view
from reconciler.reporting.rendering import describe_action, diff_document, diff_summary, diff_text
from reconciler.reporting.scope import Scope
from reconciler.reporting.snapshot import planned_keys

from .golden_world import API_PORT, ASKS, METRICS_PORT
from .world import GRPC_PORT, NOW_TIMESTAMP, World

SERVICES_PATH = "/api/v1/namespaces/shop/services"


def report_of(world: World, **settings: object) -> DiffReport:
    return diff_view(
        world.cache(),
        world.keys(),
        settings=dataclasses.replace(PlanningSettings(), **settings),
        now_timestamp=NOW_TIMESTAMP,
        scope=Scope(),
    )


def service(name: str) -> ObjectKey:
    return ObjectKey(Kind.SERVICE, "shop", name)


def world_with(*, annotations: dict[str, str] | None = None) -> World:
    world = World()
    world.namespace()
    world.service("orders", annotations=annotations)
    return world


def test_a_twin_to_create_is_the_post_of_the_whole_object_diffed_from_nothing() -> None:
    report = report_of(world_with(annotations=ASKS))

    (diff,) = report.objects
    assert isinstance(diff.action, CreatePairedService)
    assert diff.key == service("orders-grpc")
    assert report.drift
    assert report.changing() == {Kind.SERVICE: 1}
    assert describe_action(diff.action) == (
        "Service shop/orders-grpc: create: paired Service for headless Service orders"
    )
    assert diff.before == {}
    assert diff.after == paired_service_body(diff.action)
    assert diff.requests == (
        Request(
            "POST", SERVICES_PATH, paired_service_body(diff.action), content_type="application/json"
        ),
    )
    text = diff_text(report)
    assert "--- Service shop/orders-grpc (absent)\n+++ Service shop/orders-grpc (planned)\n" in text
    assert "@@ -0,0 +1," in text
    assert "+  name: orders-grpc\n" in text
    assert text.endswith("1 Service would change\n")


def test_the_paired_name_template_names_the_twin_as_run_would() -> None:
    (diff,) = report_of(world_with(annotations=ASKS), paired_name_template="{name}-mesh").objects

    assert diff.key == service("orders-mesh")


def test_a_twin_that_drifted_is_patched_in_the_fields_that_differ_only() -> None:
    world = world_with(annotations=ASKS)
    source = world.services[0]
    made_of = msgspec.structs.replace(
        source,
        spec=msgspec.structs.replace(source.spec, ports=(GRPC_PORT, METRICS_PORT)),
    )
    world.paired_service(made_of, "orders-grpc", cluster_ip="10.96.0.40")

    (diff,) = report_of(world).objects

    assert isinstance(diff.action, UpdatePairedService)
    assert describe_action(diff.action) == (
        "Service shop/orders-grpc: update: paired Service of headless Service orders: "
        "spec.ports differs"
    )
    assert diff.before is not None
    assert diff.after is not None
    assert set(diff.before) == set(diff.after) == {"spec"}
    assert set(diff.before["spec"]) == {"ports"}
    assert [port["name"] for port in diff.after["spec"]["ports"]] == ["http", "grpc"]
    assert diff.requests == (
        Request("PATCH", f"{SERVICES_PATH}/orders-grpc", paired_service_patch(diff.action)),
    )
    assert diff.requests[0].body["metadata"] == {"resourceVersion": "13"}


def test_a_twin_no_longer_asked_for_is_deleted_with_uid_and_version_preconditions() -> None:
    world = world_with()
    world.paired_service(world.services[0], "orders-grpc", cluster_ip="10.96.0.40")

    report = report_of(world)

    (diff,) = report.objects
    assert isinstance(diff.action, DeletePairedService)
    assert describe_action(diff.action) == (
        "Service shop/orders-grpc: delete: Service orders no longer asks for it: "
        f"orders has no {GRPC_SERVICE_ANNOTATION} annotation"
    )
    assert diff.after == {}
    assert diff.before is not None
    assert diff.before["metadata"]["name"] == "orders-grpc"
    assert diff.requests == (
        Request(
            "DELETE",
            f"{SERVICES_PATH}/orders-grpc",
            {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "preconditions": {"uid": "uid-svc-orders-grpc", "resourceVersion": "13"},
            },
            content_type="application/json",
        ),
    )
    assert "+++ Service shop/orders-grpc (deleted)\n@@ -1," in diff_text(report)
    assert report.drift


def test_a_foreign_service_of_the_twins_name_is_a_conflict_listed_with_its_reason() -> None:
    world = world_with(annotations=ASKS)
    world.service("orders-grpc", cluster_ip="10.96.0.40", selector={"app": "orders"})

    report = report_of(world)

    (diff,) = report.objects
    assert isinstance(diff.action, NoWrite)
    assert diff.key == service("orders"), "reported on the headless Service that asked"
    assert report.withheld() == {Verdict.CONFLICT: 1}
    assert not report.drift, "run would change nothing"
    assert diff.requests == ()
    assert describe_action(diff.action).startswith(
        "Service shop/orders: conflict: Service shop/orders-grpc exists and is not "
        "headless-reconciler's"
    )
    assert diff_summary(report) == "Nothing would change now; 1 in conflict"


def test_a_grpc_port_istio_cannot_name_is_a_note_and_not_drift() -> None:
    world = World()
    world.namespace()
    source = world.service("orders", annotations=ASKS, ports=(API_PORT,))
    world.paired_service(source, "orders-grpc", cluster_ip="10.96.0.40")

    report = report_of(world)

    assert report.objects == ()
    assert not report.drift
    (note,) = report.notes
    assert (note.key, note.reason) == (service("orders"), PORT_NAME_REASON)
    assert diff_summary(report) == "No changes (2 Services checked); 1 note"
    text = diff_text(report)
    assert f"Service shop/orders: note ({PORT_NAME_REASON}): port api (50051)" in text
    document = diff_document(report)
    assert document["drift"] is False
    assert document["summary"]["notes"] == 1
    assert document["notes"] == [
        {
            "kind": "Service",
            "namespace": "shop",
            "name": "orders",
            "reason": PORT_NAME_REASON,
            "message": note.message,
        }
    ]


def test_the_json_document_names_the_headless_service_a_paired_write_is_for() -> None:
    document = diff_document(report_of(world_with(annotations=ASKS)))

    (obj,) = document["objects"]
    assert obj["action"] == "create_paired_service"
    assert obj["source"] == {"kind": "Service", "namespace": "shop", "name": "orders"}
    assert obj["patches"][0]["method"] == "POST"
    assert obj["patches"][0]["path"] == SERVICES_PATH
    assert document["summary"]["changing"]["Service"] == 1


def test_a_selector_narrows_the_services_planned_as_it_narrows_the_entries() -> None:
    world = World()
    world.namespace()
    world.service("orders", annotations=ASKS, labels={"team": "a"})
    world.service("payments", annotations=ASKS, labels={"team": "b"})
    world.service_entry("web-static")
    cache = world.cache()

    keys = set(planned_keys(cache, selector="team=a"))

    assert keys == {service("orders"), ObjectKey(Kind.SERVICE_ENTRY, "shop", "web-static")}
    assert set(planned_keys(cache, selector=None)) == set(world.keys())
