"""Properties of paired-Service planning over generated namespaces (hypothesis).

A world is namespace ``prod`` (managed or not) holding up to three Services
``web``, ``api`` and ``db`` that may ask for a twin in every way there is
(annotation ``true``, ``false``, a name, a malformed name, ignore, headless
or not, with or without selector and gRPC port), and, at the names they may
ask for, whatever a cluster can hold: nothing, a foreign Service, a twin we
made (up to date or drifted, decorated by users, ignored, being deleted) or
the twin of an earlier Service of the same name.

Applying a plan is what the API would do with its writes: a create adds the
Service (with a fresh uid), an update replaces it with ``after``, a delete
removes it.
"""

from __future__ import annotations

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.models.projections import Service, ServicePort
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning import plan
from reconciler.planning.pairing import EXPORT_TO_ANNOTATION, owns
from reconciler.planning.plans import (
    CreatePairedService,
    DeletePairedService,
    NoWrite,
    Plan,
    UpdatePairedService,
)
from reconciler.planning.references import GRPC_SERVICE_ANNOTATION, IGNORE_ANNOTATION
from reconciler.planning.settings import PlanningSettings

from .builders import NOW, NOW_TIMESTAMP, NS, namespace
from .conftest import FakeView
from .pairing_builders import GRPC, HTTP, earlier_owner, foreign, headless, twin_of, with_meta

SOURCES = ("web", "api", "db")
TWIN_NAMES = ("web-grpc", "api-grpc", "db-grpc", "shared", "web-h2")
ASKED = st.sampled_from(
    [None, None, "true", "true", "false", "shared", "web-h2", "api-grpc", "Bad_Name", "x/y"]
)
PORTS = st.lists(
    st.sampled_from([HTTP, GRPC, ServicePort(name="api", port=50051, target_port=50051)]),
    min_size=1,
    max_size=3,
    unique=True,
)
FAMILIES = st.sampled_from(
    [(("IPv4",), "SingleStack"), (("IPv6",), "SingleStack"), (("IPv4", "IPv6"), "RequireDualStack")]
)
SETTINGS = PlanningSettings()


@st.composite
def sources(draw: st.DrawFn, name: str) -> Service:
    annotations: dict[str, str] = {}
    asked = draw(ASKED)
    if asked is not None:
        annotations[GRPC_SERVICE_ANNOTATION] = asked
    if draw(st.integers(0, 9)) == 0:
        annotations[IGNORE_ANNOTATION] = "true"
    if draw(st.booleans()):
        annotations[EXPORT_TO_ANNOTATION] = draw(st.sampled_from([".", "*"]))
    families, policy = draw(FAMILIES)
    return headless(
        name,
        annotations=annotations,
        ports=draw(PORTS),
        selector={"app": name, **draw(st.sampled_from([{}, {"track": "stable"}]))},
        no_selector=draw(st.integers(0, 9)) == 0,
        cluster_ip="None" if draw(st.integers(0, 9)) else "10.96.0.7",
        families=families,
        policy=policy,
    )


@st.composite
def existing(draw: st.DrawFn, name: str, owners: list[Service]) -> Service | None:
    """Whatever may stand at ``name``: nothing, a stranger, a twin (ours or an earlier one's)."""
    kind = draw(st.sampled_from(["absent", "absent", "foreign", "ours", "ours", "earlier"]))
    if kind == "absent" or (kind != "foreign" and not owners):
        return None
    if kind == "foreign":
        return foreign(name)
    owner = draw(st.sampled_from(owners))
    earlier = draw(sources(owner.metadata.name))
    twin = twin_of(msgspec.structs.replace(earlier, metadata=owner.metadata), name)
    if kind == "earlier":
        return with_meta(twin, owner_references=(earlier_owner(owner.metadata.name),))
    meta = twin.metadata
    if draw(st.booleans()):
        twin = with_meta(twin, labels={**meta.labels, "team": "payments"})
    if draw(st.integers(0, 9)) == 0:
        twin = with_meta(twin, annotations={**meta.annotations, IGNORE_ANNOTATION: "true"})
    if draw(st.integers(0, 9)) == 0:
        twin = with_meta(twin, deletion_timestamp="2026-01-01T00:00:00Z")
    return twin


@st.composite
def worlds(draw: st.DrawFn, *, source_names: tuple[str, ...] = SOURCES) -> FakeView:
    names = draw(st.lists(st.sampled_from(source_names), min_size=1, unique=True))
    services = [draw(sources(name)) for name in names]
    view = FakeView([namespace(managed=draw(st.booleans())), *services])
    for name in TWIN_NAMES:
        found = draw(existing(name, services))
        if found is not None:
            view.add(found)
    return view


def plan_services(view: FakeView) -> Plan:
    keys = [ObjectKey(Kind.SERVICE, ns, name) for ns, name in view.services]
    return plan(keys, view=view, settings=SETTINGS, now=NOW, now_timestamp=NOW_TIMESTAMP, holds={})


def apply(view: FakeView, planned: Plan) -> None:
    """What the API server would make of the plan's writes."""
    for action in planned.writes:
        key = (action.key.namespace, action.key.name)
        if isinstance(action, CreatePairedService):
            assert key not in view.services, f"create of {key} would be 409"
            meta = msgspec.structs.replace(
                action.after.metadata, uid=f"uid-{action.key.name}-new", resource_version="1"
            )
            view.add(msgspec.structs.replace(action.after, metadata=meta))
        elif isinstance(action, UpdatePairedService):
            view.add(action.after)
        elif isinstance(action, DeletePairedService):
            del view.services[key]


@settings(max_examples=150, deadline=None)
@given(worlds(source_names=("web",)))
def test_with_one_source_plan_apply_plan_writes_nothing(view: FakeView) -> None:
    apply(view, plan_services(view))

    assert plan_services(view).writes == ()


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_any_namespace_settles_within_two_rounds(view: FakeView) -> None:
    """A twin one source lets go of can be taken by another on the next round, no further."""
    for _ in range(2):
        apply(view, plan_services(view))

    assert plan_services(view).writes == ()


@settings(max_examples=150, deadline=None)
@given(worlds())
def test_no_action_ever_targets_a_service_without_our_marks(view: FakeView) -> None:
    for action in plan_services(view).writes:
        assert action.key.kind is Kind.SERVICE
        target = view.service(NS, action.key.name)
        if isinstance(action, CreatePairedService):
            assert target is None
            continue
        assert isinstance(action, UpdatePairedService | DeletePairedService)
        source = view.service(NS, action.source.name)
        assert target is not None
        assert source is not None
        assert action.before == target
        assert owns(source, target), f"{action.key} is not {action.source.name}'s"


@settings(max_examples=100, deadline=None)
@given(worlds())
def test_each_service_plans_the_same_alone_or_with_the_others(view: FakeView) -> None:
    together = plan_services(view)
    alone = [
        action
        for ns, name in sorted(view.services)
        for action in plan(
            [ObjectKey(Kind.SERVICE, ns, name)],
            view=view,
            settings=SETTINGS,
            now=NOW,
            now_timestamp=NOW_TIMESTAMP,
            holds={},
        )
    ]
    assert list(together.actions) == alone
    assert all(isinstance(a, NoWrite) or a.key.kind is Kind.SERVICE for a in together)
