"""SPEC sections 2 and 3, "Paired Service": one row or test per rule, named for it.

Every world holds namespace ``prod`` and a headless Service ``web``
(selector ``app: web``, ports ``http`` and ``grpc``); a row adds what its rule
is about and says what planning ``web`` yields: a create, an update, a delete,
a verdict, or nothing at all.
"""

from __future__ import annotations

import msgspec
import pytest

from reconciler.models.projections import (
    Namespace,
    NamespaceStatus,
    ObjectMeta,
    OwnerReference,
    Service,
    ServicePort,
)
from reconciler.planning.pairing import (
    EXPORT_TO_ANNOTATION,
    MANAGED_BY_LABEL,
    MANAGED_BY_VALUE,
    owns,
)
from reconciler.planning.plans import (
    Action,
    CreatePairedService,
    DeletePairedService,
    NoWrite,
    UpdatePairedService,
    Verdict,
)
from reconciler.planning.references import (
    GRPC_SERVICE_ANNOTATION,
    IGNORE_ANNOTATION,
    SOURCE_ANNOTATION,
)
from reconciler.planning.settings import PlanningSettings

from .builders import NS, namespace
from .conftest import Cached, FakeView
from .pairing_builders import (
    ASKS,
    GRPC,
    HTTP,
    earlier_owner,
    foreign,
    headless,
    pair,
    service_key,
    twin_of,
    with_meta,
    with_spec,
)

WEB = service_key("web")
WEB_GRPC = service_key("web-grpc")


def world(*objects: Cached, managed: bool = False) -> FakeView:
    return FakeView([namespace(managed=managed), *objects])


def only(actions: tuple[Action, ...]) -> Action:
    (action,) = actions
    return action


def created_name(actions: tuple[Action, ...]) -> str | None:
    action = only(actions)
    assert isinstance(action, CreatePairedService)
    assert action.source == WEB
    return action.key.name


# -- who asks, and for which name --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "template", "expected"),
    [
        pytest.param("true", "{name}-grpc", "web-grpc", id="true-uses-the-default-template"),
        pytest.param("True", "{name}-grpc", "web-grpc", id="true-in-any-case"),
        pytest.param("true", "grpc-{name}", "grpc-web", id="true-uses-the-configured-template"),
        pytest.param("web-h2", "{name}-grpc", "web-h2", id="any-other-value-is-the-name"),
        pytest.param(" web-h2 ", "{name}-grpc", "web-h2", id="surrounding-spaces-are-ignored"),
    ],
)
def test_the_annotation_names_the_paired_service(value: str, template: str, expected: str) -> None:
    view = world(headless(annotations={GRPC_SERVICE_ANNOTATION: value}))

    actions = pair(view, settings=PlanningSettings(paired_name_template=template)).actions

    assert created_name(actions) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        pytest.param("Web_gRPC", "not a Service name", id="not-a-dns-label"),
        pytest.param("other/web-grpc", "another namespace", id="another-namespace"),
        pytest.param("web", "headless Service itself", id="the-service-itself"),
        pytest.param("", "not a Service name", id="empty"),
        pytest.param("x" * 64, "at most 63 characters", id="too-long"),
        pytest.param("9web", "starting with a letter", id="starts-with-a-digit"),
    ],
)
def test_a_malformed_name_is_refused_and_nothing_is_written(value: str, fragment: str) -> None:
    view = world(headless(annotations={GRPC_SERVICE_ANNOTATION: value}))

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert (action.key, action.verdict) == (WEB, Verdict.REFUSED)
    assert fragment in action.message
    assert GRPC_SERVICE_ANNOTATION in action.message


def test_a_malformed_name_of_any_size_is_refused_in_a_sentence_that_fits_an_event() -> None:
    value = "Web_" + "x" * 200_000
    view = world(headless(annotations={GRPC_SERVICE_ANNOTATION: value}))

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert len(action.message) < 1024
    assert action.message.endswith("at most 63 characters)")
    assert "(200004 characters)" in action.message


def test_a_template_that_yields_a_name_too_long_is_refused() -> None:
    view = world(headless("a" * 60, annotations=ASKS))

    action = only(pair(view, "a" * 60).actions)

    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.REFUSED
    assert "the paired name template '{name}-grpc' gives" in action.message


def test_a_malformed_name_keeps_the_twin_it_has() -> None:
    """A typo must not delete a working paired Service."""
    source = headless(annotations={GRPC_SERVICE_ANNOTATION: "Web_gRPC"})
    view = world(source, twin_of(source))

    assert [type(action) for action in pair(view).actions] == [NoWrite]


def test_false_asks_for_nothing_even_in_a_managed_namespace() -> None:
    view = world(headless(annotations={GRPC_SERVICE_ANNOTATION: "false"}), managed=True)

    assert pair(view) == pair(world(headless(annotations={GRPC_SERVICE_ANNOTATION: "false"})))
    assert pair(view).actions == ()


def test_without_annotation_outside_a_managed_namespace_nothing_is_paired() -> None:
    assert pair(world(headless())).actions == ()


@pytest.mark.parametrize(
    "port",
    [
        pytest.param(ServicePort(name="grpc", port=9090), id="named-grpc"),
        pytest.param(ServicePort(name="grpc-api", port=9090), id="named-grpc-suffix"),
        pytest.param(ServicePort(name="grpc-web", port=8081), id="named-grpc-web"),
        pytest.param(ServicePort(name="api", port=9090, app_protocol="grpc"), id="app-grpc"),
        pytest.param(ServicePort(name="ui", port=9090, app_protocol="grpc-web"), id="app-grpc-web"),
        pytest.param(
            ServicePort(name="api", port=9090, app_protocol="kubernetes.io/h2c"), id="app-h2c"
        ),
    ],
)
def test_a_managed_namespace_pairs_a_headless_service_with_a_grpc_port(port: ServicePort) -> None:
    view = world(headless(ports=(HTTP, port)), managed=True)

    assert created_name(pair(view).actions) == "web-grpc"


@pytest.mark.parametrize(
    "port",
    [
        pytest.param(HTTP, id="http-only"),
        pytest.param(ServicePort(name="grpcx", port=9090), id="grpc-without-dash"),
        pytest.param(ServicePort(name="api", port=9090, app_protocol="http2"), id="app-http2"),
        pytest.param(ServicePort(name="tcp-grpc", port=9090), id="grpc-after-another-word"),
    ],
)
def test_a_managed_namespace_leaves_a_headless_service_without_grpc_port(port: ServicePort) -> None:
    view = world(headless(ports=(port,)), managed=True)

    assert [a for a in pair(view).actions if not isinstance(a, NoWrite)] == []


def test_a_managed_namespace_does_not_pair_a_service_with_a_cluster_ip() -> None:
    view = world(headless(cluster_ip="10.96.0.9"), managed=True)

    assert pair(view).actions == ()


@pytest.mark.parametrize(
    ("annotations", "namespace_annotations"),
    [
        pytest.param({**ASKS, IGNORE_ANNOTATION: "true"}, {}, id="on-the-service"),
        pytest.param(ASKS, {IGNORE_ANNOTATION: "true"}, id="on-the-namespace"),
    ],
)
def test_ignore_wins_and_deletes_the_twin_we_own(
    annotations: dict[str, str], namespace_annotations: dict[str, str]
) -> None:
    asking = headless(annotations=ASKS)
    view = FakeView(
        [
            namespace(managed=True, annotations=namespace_annotations),
            headless(annotations=annotations),
            twin_of(asking),
        ]
    )

    action = only(pair(view).actions)

    assert isinstance(action, DeletePairedService)
    assert action.key == WEB_GRPC
    assert IGNORE_ANNOTATION in action.reason


def test_a_service_out_of_scope_plans_nothing() -> None:
    view = world(headless(annotations=ASKS))

    assert pair(view, settings=PlanningSettings(namespaces=frozenset({"other"}))).actions == ()


def test_a_service_being_deleted_plans_nothing_the_garbage_collector_takes_its_twin() -> None:
    asking = headless(annotations=ASKS)
    view = world(headless(annotations=ASKS, deleting=True), with_spec(twin_of(asking), ports=()))

    assert pair(view).actions == ()


def test_a_namespace_being_deleted_plans_nothing_where_a_create_would_be_refused() -> None:
    """Its twin may go first (names sort so); a create in a terminating namespace is a 403."""
    deleting = Namespace(
        metadata=ObjectMeta(name=NS, deletion_timestamp="2024-01-01T00:00:00Z"),
        status=NamespaceStatus(phase="Terminating"),
    )
    view = FakeView([deleting, headless(annotations=ASKS)])

    assert pair(view).actions == ()


def test_an_annotated_service_with_a_cluster_ip_is_reported_not_paired() -> None:
    view = world(headless(annotations=ASKS, cluster_ip="10.96.0.9"))

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert (action.key, action.verdict) == (WEB, Verdict.NOT_RECONCILABLE)
    assert "not headless" in action.message


@pytest.mark.parametrize("managed", [False, True], ids=["annotated", "namespace-wide"])
def test_a_headless_service_without_selector_is_reported_and_nothing_is_created(
    managed: bool,
) -> None:
    annotations = {} if managed else ASKS
    view = world(headless(annotations=annotations, no_selector=True), managed=managed)

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert (action.key, action.verdict) == (WEB, Verdict.NOT_RECONCILABLE)
    assert "no selector" in action.message


# -- what the twin holds -----------------------------------------------------------------------


def test_the_twin_copies_selector_ports_families_policies_and_export_to_and_is_marked() -> None:
    ports = (
        ServicePort(name="grpc", port=9090, target_port=50051, protocol="TCP", app_protocol="grpc"),
        ServicePort(name="metrics", port=9100, target_port="metrics", protocol="TCP"),
        ServicePort(name="dns", port=53, target_port=53, protocol="UDP"),
    )
    source = headless(
        annotations={**ASKS, EXPORT_TO_ANNOTATION: ".", "team": "payments"},
        labels={"app": "web"},
        ports=ports,
        selector={"app": "web", "tier": "api"},
        families=("IPv6", "IPv4"),
        policy="RequireDualStack",
        internal_traffic_policy="Local",
        publish_not_ready_addresses=True,
    )

    created = only(pair(world(source)).actions)

    assert isinstance(created, CreatePairedService)
    after = created.after
    assert after.metadata.name == "web-grpc"
    assert after.metadata.namespace == NS
    assert after.metadata.labels == {MANAGED_BY_LABEL: MANAGED_BY_VALUE}
    assert after.metadata.annotations == {SOURCE_ANNOTATION: "web", EXPORT_TO_ANNOTATION: "."}
    assert after.metadata.owner_references == (
        OwnerReference(
            api_version="v1",
            kind="Service",
            name="web",
            uid="uid-web",
            controller=True,
            block_owner_deletion=True,
        ),
    )
    assert after.spec.type == "ClusterIP"
    assert after.spec.selector == {"app": "web", "tier": "api"}
    assert after.spec.ports == ports
    assert after.spec.ip_families == ("IPv6", "IPv4")
    assert after.spec.ip_family_policy == "RequireDualStack"
    assert after.spec.internal_traffic_policy == "Local"
    assert after.spec.cluster_ip is None, "the API allocates the twin's own cluster IP"
    assert after.spec.publish_not_ready_addresses is False
    assert owns(source, after)


def test_steady_state_plans_nothing() -> None:
    source = headless(annotations={**ASKS, EXPORT_TO_ANNOTATION: "*"})

    assert pair(world(source, twin_of(source))).actions == ()


# -- ownership and conflicts -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "fragments"),
    [
        pytest.param(foreign(), ("lacks the label", "the annotation", "ownerReference"), id="bare"),
        pytest.param(
            foreign(
                labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                annotations={SOURCE_ANNOTATION: "web"},
            ),
            ("lacks a controller ownerReference to Service web",),
            id="marks-without-owner",
        ),
        pytest.param(
            foreign(annotations={SOURCE_ANNOTATION: "web"}),
            ("lacks the label app.kubernetes.io/managed-by=headless-reconciler and",),
            id="annotation-only",
        ),
        pytest.param(
            foreign(
                labels={MANAGED_BY_LABEL: MANAGED_BY_VALUE},
                annotations={SOURCE_ANNOTATION: "api"},
            ),
            ("the annotation headless-reconciler.io/source=web",),
            id="paired-with-another-service",
        ),
    ],
)
def test_a_service_of_that_name_without_our_marks_is_a_conflict_never_written(
    existing: Service, fragments: tuple[str, ...]
) -> None:
    view = world(headless(annotations=ASKS), existing)

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert (action.key, action.verdict) == (WEB, Verdict.CONFLICT)
    for fragment in fragments:
        assert fragment in action.message


def test_a_twin_of_an_earlier_service_of_the_same_name_is_left_to_the_garbage_collector() -> None:
    source = headless(annotations=ASKS)
    stale = with_meta(twin_of(source), owner_references=(earlier_owner(),))

    action = only(pair(world(source, stale)).actions)

    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.CONFLICT
    assert "earlier Service web" in action.message


def test_a_foreign_service_is_never_deleted_even_when_it_names_the_source() -> None:
    claimed = foreign("web-old", annotations={SOURCE_ANNOTATION: "web"})
    view = world(headless(), claimed)

    assert pair(view).actions == ()


def test_two_services_asking_for_one_name_both_get_a_conflict_and_neither_writes() -> None:
    shared = {GRPC_SERVICE_ANNOTATION: "shared-grpc"}
    view = world(headless("web", annotations=shared), headless("api", annotations=shared))

    for name in ("web", "api"):
        action = only(pair(view, name).actions)
        assert isinstance(action, NoWrite)
        assert action.key == service_key(name)
        assert action.verdict is Verdict.CONFLICT
        assert "asked for by api, web" in action.message


def test_a_rival_asking_for_the_name_of_our_twin_freezes_it_but_does_not_delete_it() -> None:
    source = headless(annotations=ASKS, ports=(GRPC,))
    view = world(
        source,
        twin_of(headless(annotations=ASKS)),
        headless("api", annotations={GRPC_SERVICE_ANNOTATION: "web-grpc"}),
    )

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.CONFLICT


def test_a_rival_that_is_not_headless_does_not_count() -> None:
    view = world(
        headless(annotations=ASKS),
        headless("api", annotations={GRPC_SERVICE_ANNOTATION: "web-grpc"}, cluster_ip="10.0.0.9"),
    )

    assert created_name(pair(view).actions) == "web-grpc"


def test_a_namespace_wide_request_conflicts_with_an_annotation_naming_the_same_service() -> None:
    view = world(headless(), headless("api", annotations={GRPC_SERVICE_ANNOTATION: "web-grpc"}))
    view.add(namespace(managed=True))

    action = only(pair(view).actions)

    assert isinstance(action, NoWrite)
    assert action.verdict is Verdict.CONFLICT


def test_our_twin_being_deleted_is_waited_for() -> None:
    source = headless(annotations=ASKS)
    going = with_meta(with_spec(twin_of(source), ports=()), deletion_timestamp="2026-01-01T0Z")

    assert pair(world(source, going)).actions == ()


def test_our_twin_marked_ignore_is_left_alone() -> None:
    source = headless(annotations=ASKS)
    ignored = with_meta(
        with_spec(twin_of(source), ports=()),
        annotations={SOURCE_ANNOTATION: "web", IGNORE_ANNOTATION: "true"},
    )

    assert pair(world(source, ignored)).actions == ()


# -- drift repair ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drifted", "fields"),
    [
        pytest.param(
            {"selector": {"app": "web", "canary": "true"}}, ("spec.selector",), id="selector"
        ),
        pytest.param({"ports": (HTTP,)}, ("spec.ports",), id="ports"),
        pytest.param({"type": "NodePort"}, ("spec.type",), id="type"),
        pytest.param({"ip_families": ("IPv6",)}, ("spec.ipFamilies",), id="ip-families"),
        pytest.param(
            {"internal_traffic_policy": "Local"}, ("spec.internalTrafficPolicy",), id="itp"
        ),
    ],
)
def test_someone_editing_the_twin_has_it_restored(
    drifted: dict[str, object], fields: tuple[str, ...]
) -> None:
    source = headless(annotations=ASKS)
    twin = twin_of(source)

    action = only(pair(world(source, with_spec(twin, **drifted))).actions)

    assert isinstance(action, UpdatePairedService)
    assert (action.key, action.source, action.resource_version) == (WEB_GRPC, WEB, "21")
    assert action.fields == fields
    assert action.after == twin


def test_labels_annotations_and_owners_users_add_to_the_twin_are_kept() -> None:
    source = headless(annotations=ASKS)
    twin = twin_of(source)
    other_owner = OwnerReference(api_version="v1", kind="ConfigMap", name="cm", uid="uid-cm")
    decorated = with_meta(
        twin,
        labels={**twin.metadata.labels, "team": "payments"},
        annotations={**twin.metadata.annotations, "note": "hand-made"},
        owner_references=(*twin.metadata.owner_references, other_owner),
    )

    assert pair(world(source, decorated)).actions == ()
    drifted = with_spec(decorated, ports=())
    action = only(pair(world(source, drifted)).actions)
    assert isinstance(action, UpdatePairedService)
    assert action.after == decorated


def test_a_weakened_owner_reference_is_restored_in_place() -> None:
    source = headless(annotations=ASKS)
    twin = twin_of(source)
    (ours,) = twin.metadata.owner_references
    other = OwnerReference(api_version="v1", kind="ConfigMap", name="cm", uid="uid-cm")
    weakened = msgspec.structs.replace(ours, block_owner_deletion=False)
    view = world(source, with_meta(twin, owner_references=(other, weakened)))

    action = only(pair(view).actions)

    assert isinstance(action, UpdatePairedService)
    assert action.fields == ("metadata.ownerReferences",)
    assert action.after.metadata.owner_references == (other, ours)


def test_the_headless_service_changing_ports_and_selector_updates_the_twin_in_one_action() -> None:
    before = headless(annotations=ASKS)
    twin = twin_of(before)
    after = headless(
        annotations=ASKS,
        ports=(GRPC, ServicePort(name="grpc-admin", port=9091, target_port=9091)),
        selector={"app": "web", "track": "stable"},
    )

    action = only(pair(world(after, twin)).actions)

    assert isinstance(action, UpdatePairedService)
    assert action.fields == ("spec.selector", "spec.ports")
    assert action.after.spec.ports == after.spec.ports
    assert action.after.spec.selector == {"app": "web", "track": "stable"}
    assert action.after.spec.cluster_ip == twin.spec.cluster_ip


def test_export_to_follows_the_source_and_goes_when_the_source_drops_it() -> None:
    exported = headless(annotations={**ASKS, EXPORT_TO_ANNOTATION: "."})
    twin = twin_of(exported)

    action = only(pair(world(headless(annotations=ASKS), twin)).actions)

    assert isinstance(action, UpdatePairedService)
    assert action.fields == ("metadata.annotations",)
    assert EXPORT_TO_ANNOTATION not in action.after.metadata.annotations


# -- deletion ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "managed", "reason", "reported"),
    [
        pytest.param(headless(), False, "no headless-reconciler.io/grpc-service", None, id="gone"),
        pytest.param(
            headless(annotations={GRPC_SERVICE_ANNOTATION: "false"}),
            False,
            "asks for none",
            None,
            id="false",
        ),
        pytest.param(headless(ports=(HTTP,)), True, "no gRPC port", None, id="no-grpc-port"),
        pytest.param(
            headless(annotations=ASKS, cluster_ip="10.96.0.9"),
            False,
            "not headless",
            Verdict.NOT_RECONCILABLE,
            id="no-longer-headless",
        ),
        pytest.param(
            headless(annotations=ASKS, no_selector=True),
            False,
            "no selector",
            Verdict.NOT_RECONCILABLE,
            id="selector-removed",
        ),
    ],
)
def test_a_source_that_no_longer_asks_loses_the_twin_we_own(
    source: Service, managed: bool, reason: str, reported: Verdict | None
) -> None:
    twin = twin_of(headless(annotations=ASKS))

    actions = pair(world(source, twin, managed=managed)).actions

    *withheld, deleted = actions
    assert [a.verdict for a in withheld if isinstance(a, NoWrite)] == (
        [reported] if reported else []
    )
    assert isinstance(deleted, DeletePairedService)
    assert (deleted.key, deleted.source) == (WEB_GRPC, WEB)
    assert (deleted.uid, deleted.resource_version) == ("uid-web-grpc", "21")
    assert reason in deleted.reason


def test_renaming_creates_the_new_twin_then_deletes_the_old() -> None:
    twin = twin_of(headless(annotations=ASKS))
    view = world(headless(annotations={GRPC_SERVICE_ANNOTATION: "web-h2"}), twin)

    created, deleted = pair(view).actions

    assert isinstance(created, CreatePairedService)
    assert created.key == service_key("web-h2")
    assert isinstance(deleted, DeletePairedService)
    assert deleted.key == WEB_GRPC
    assert "asks for web-h2 instead" in deleted.reason


def test_a_twin_of_an_earlier_service_is_not_deleted_when_the_source_opts_out() -> None:
    stale = with_meta(twin_of(headless(annotations=ASKS)), owner_references=(earlier_owner(),))

    assert pair(world(headless(), stale)).actions == ()
