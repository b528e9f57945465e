"""SPEC section 2, "What is managed": one row per rule, named for it.

Every world holds a Service ``prod/web`` with ready pods, and every entry
holds a stale address, so a managed entry always plans a write; a row then
says whether the entry is written, left alone (no action at all), or gets a
NoWrite with a verdict and a message naming the reason.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from reconciler.models.projections import (
    Namespace,
    ObjectMeta,
    OwnerReference,
    ServiceEntry,
    WorkloadEntry,
)
from reconciler.planning.plans import (
    Action,
    NoWrite,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
)
from reconciler.planning.references import (
    AUTO_REGISTRATION_ANNOTATION,
    IGNORE_ANNOTATION,
    MANAGED_NAMESPACE_LABEL,
    POD_ANNOTATION,
    SERVICE_ANNOTATION,
)
from reconciler.planning.settings import PlanningSettings

from .builders import (
    annotated_entry,
    namespace,
    plan_one,
    ready_slice,
    se_endpoint,
    service,
    service_entry,
    workload_entry,
)
from .conftest import Cached, FakeView

WRITES = "writes"
LEFT_ALONE = None


@dataclass(frozen=True)
class Withheld:
    verdict: Verdict
    fragments: tuple[str, ...]


def refused(*fragments: str) -> Withheld:
    return Withheld(Verdict.REFUSED, fragments)


def not_reconcilable(*fragments: str) -> Withheld:
    return Withheld(Verdict.NOT_RECONCILABLE, fragments)


Expected = str | Withheld | None

PODS = {"web-0": "10.0.0.1", "web-1": "10.0.0.2"}
STALE = (se_endpoint("10.9.9.9", "web-0"),)
WORLD: tuple[Cached, ...] = (namespace(), service(), ready_slice(PODS))
MANAGED_WORLD: tuple[Cached, ...] = (namespace(managed=True), service(), ready_slice(PODS))
OTHER_WORLD: tuple[Cached, ...] = (
    *WORLD,
    namespace("other"),
    service(namespace="other"),
    ready_slice({"web-0": "10.1.0.1", "web-1": "10.1.0.2"}, namespace="other"),
)


def host_entry(
    *hosts: str, annotations: dict[str, str] | None = None, resolution: str = "STATIC"
) -> ServiceEntry:
    return service_entry(
        hosts=hosts, endpoints=STALE, annotations=annotations, resolution=resolution
    )


SERVICE_ENTRY_RULES = [
    pytest.param(WORLD, annotated_entry(endpoints=STALE), WRITES, None,
                 id="service annotation opts an entry in"),
    pytest.param(WORLD, host_entry("web"), LEFT_ALONE, None,
                 id="no annotation outside a managed namespace: left alone"),
    pytest.param(WORLD, annotated_entry(pod="web-1", endpoints=STALE), WRITES, None,
                 id="pod annotation with the service annotation opts one pod in"),
    pytest.param(WORLD, host_entry("web-1.web.prod.svc.cluster.local",
                                   annotations={POD_ANNOTATION: "web-1"}), WRITES, None,
                 id="pod annotation with a pod host opts one pod in"),
    pytest.param(WORLD, host_entry("web-1.web.prod.svc.cluster.local",
                                   annotations={SERVICE_ANNOTATION: "web"}), WRITES, None,
                 id="a pod host with the service annotation opts one pod in"),
    pytest.param(WORLD, host_entry("web-0.web.prod.svc.cluster.local",
                                   "web-1.web.prod.svc.cluster.local",
                                   annotations={SERVICE_ANNOTATION: "web"}),
                 refused("more than one", "pod web-0 of Service prod/web", "pod web-1"), None,
                 id="pod hosts naming two pods with the service annotation are refused"),
    pytest.param(WORLD, host_entry("web.example.internal", annotations={POD_ANNOTATION: "web-1"}),
                 refused("names no Service", SERVICE_ANNOTATION), None,
                 id="pod annotation naming no Service is refused"),
    pytest.param(MANAGED_WORLD, host_entry("web"), WRITES, None,
                 id="namespace label manages a STATIC entry whose host is <svc>"),
    pytest.param(MANAGED_WORLD, host_entry("web.prod"), WRITES, None,
                 id="namespace label manages a STATIC entry whose host is <svc>.<ns>"),
    pytest.param(MANAGED_WORLD, host_entry("web.prod.svc"), WRITES, None,
                 id="namespace label manages a STATIC entry whose host is <svc>.<ns>.svc"),
    pytest.param(MANAGED_WORLD, host_entry("web.prod.svc.cluster.local"), WRITES, None,
                 id="namespace label manages a STATIC entry whose host is fully qualified"),
    pytest.param(MANAGED_WORLD, host_entry("web-1.web.prod.svc.cluster.local"), WRITES, None,
                 id="namespace label manages a STATIC entry whose host names one pod"),
    pytest.param(MANAGED_WORLD, host_entry("WEB.Prod.svc.cluster.local."), WRITES, None,
                 id="hosts match case-insensitively and with a trailing dot"),
    pytest.param((namespace(managed=True), service(headless=False), ready_slice(PODS)),
                 host_entry("web"), LEFT_ALONE, None,
                 id="namespace label does not cover a host of a non-headless Service"),
    pytest.param(MANAGED_WORLD, host_entry("db"), LEFT_ALONE, None,
                 id="namespace label does not cover a host of a missing Service"),
    pytest.param((*OTHER_WORLD, namespace(managed=True)), host_entry("web.other"),
                 LEFT_ALONE, None,
                 id="namespace label does not cover a host of another namespace"),
    pytest.param(MANAGED_WORLD, host_entry("web", resolution="DNS"), LEFT_ALONE, None,
                 id="namespace label does not cover DNS entries"),
    pytest.param(MANAGED_WORLD, service_entry(hosts=("web",), workload_selector={"app": "web"}),
                 LEFT_ALONE, None,
                 id="namespace label does not cover entries with a workloadSelector"),
    pytest.param((Namespace(metadata=ObjectMeta(name="prod", labels={
                     MANAGED_NAMESPACE_LABEL: "disabled"})), service(), ready_slice(PODS)),
                 host_entry("web"), LEFT_ALONE, None,
                 id="namespace label other than enabled does not opt in"),
    pytest.param((*MANAGED_WORLD, service("db")), host_entry("web", "db"),
                 refused("more than one", "prod/web", "prod/db"), None,
                 id="hosts naming two headless Services are refused as ambiguous"),
    pytest.param(MANAGED_WORLD, host_entry("web.prod.svc.other.domain"), LEFT_ALONE, None,
                 id="a host in another cluster domain names no Service"),
    pytest.param(MANAGED_WORLD, host_entry("web.prod.svc.corp.internal"), WRITES,
                 PlanningSettings(cluster_domain="corp.internal"),
                 id="a host in the configured cluster domain names the Service"),
    pytest.param(WORLD, annotated_entry(annotations={IGNORE_ANNOTATION: "true"}, endpoints=STALE),
                 LEFT_ALONE, None,
                 id="ignore wins over the service annotation"),
    pytest.param(MANAGED_WORLD, host_entry("web", annotations={IGNORE_ANNOTATION: "True"}),
                 LEFT_ALONE, None,
                 id="ignore wins over the namespace label"),
    pytest.param((namespace(annotations={IGNORE_ANNOTATION: "true"}), service(),
                  ready_slice(PODS)), annotated_entry(endpoints=STALE), LEFT_ALONE, None,
                 id="ignore on the namespace wins over everything in it"),
    pytest.param(WORLD, annotated_entry(annotations={IGNORE_ANNOTATION: "false"},
                                        endpoints=STALE), WRITES, None,
                 id="ignore other than true does not opt out"),
    pytest.param(WORLD, annotated_entry(workload_selector={"app": "web"}),
                 not_reconcilable("workloadSelector"), None,
                 id="an opted-in entry with a workloadSelector is not reconcilable"),
    pytest.param(WORLD, annotated_entry(resolution="DNS", endpoints=STALE),
                 not_reconcilable("DNS", "STATIC"), None,
                 id="an opted-in DNS entry is not reconcilable"),
    pytest.param(WORLD, annotated_entry(resolution=None), not_reconcilable("NONE"), None,
                 id="an opted-in entry without resolution (NONE) is not reconcilable"),
    pytest.param(OTHER_WORLD, annotated_entry("other/web", endpoints=STALE),
                 refused("namespace prod", "namespace other", "--allow-cross-namespace prod=other"),
                 None,
                 id="a cross-namespace Service reference is refused, naming both namespaces"),
    pytest.param(OTHER_WORLD, annotated_entry("other/web", endpoints=STALE), WRITES,
                 PlanningSettings(allow_cross_namespace=frozenset({("prod", "other")})),
                 id="an allowed namespace pair may follow a Service across namespaces"),
    pytest.param(OTHER_WORLD, annotated_entry("other/web", endpoints=STALE),
                 refused("namespace other"),
                 PlanningSettings(allow_cross_namespace=frozenset({("other", "prod")})),
                 id="an allowed pair does not allow the reverse direction"),
    pytest.param(OTHER_WORLD, host_entry("web-0.web.other.svc.cluster.local",
                                         annotations={POD_ANNOTATION: "web-0"}),
                 refused("namespace prod", "namespace other"), None,
                 id="a pod host in another namespace is refused"),
    pytest.param(OTHER_WORLD, annotated_entry("other/web", endpoints=STALE),
                 refused("outside the controller's scope"),
                 PlanningSettings(namespaces=frozenset({"prod"}),
                                  allow_cross_namespace=frozenset({("prod", "other")})),
                 id="a Service outside the namespaces in scope is refused"),
    pytest.param(WORLD, annotated_entry(endpoints=STALE), LEFT_ALONE,
                 PlanningSettings(namespaces=frozenset({"staging"})),
                 id="an entry outside the namespaces in scope is left alone"),
    pytest.param(WORLD, annotated_entry("nope", endpoints=STALE),
                 refused("Service prod/nope not found"), None,
                 id="an annotation naming a missing Service is refused"),
    pytest.param((namespace(), service(headless=False), ready_slice(PODS)),
                 annotated_entry(endpoints=STALE), refused("prod/web is not headless"), None,
                 id="an annotation naming a non-headless Service is refused"),
    pytest.param(WORLD, annotated_entry("a/b/c", endpoints=STALE),
                 refused(SERVICE_ANNOTATION, "'a/b/c'"), None,
                 id="a malformed service annotation is refused"),
    pytest.param(OTHER_WORLD, annotated_entry("web", pod="other/web-0", endpoints=STALE),
                 refused("namespace other", "namespace prod"), None,
                 id="pod and service annotations naming different namespaces are refused"),
    pytest.param(WORLD, service_entry(annotations={SERVICE_ANNOTATION: "web"}, endpoints=STALE,
                                      deleting=True), LEFT_ALONE, None,
                 id="an entry being deleted is left alone"),
]  # fmt: skip


@pytest.mark.parametrize(("world", "entry", "expected", "settings"), SERVICE_ENTRY_RULES)
def test_service_entry_opt_in(
    world: tuple[Cached, ...],
    entry: ServiceEntry,
    expected: Expected,
    settings: PlanningSettings | None,
) -> None:
    action = plan_one(FakeView(world), entry, settings=settings)
    assert_outcome(action, expected, write_type=UpdateServiceEntryEndpoints)


WE_WORLD: tuple[Cached, ...] = (namespace(), service(), ready_slice({"web-0": "10.0.0.5"}))
WE_OTHER_WORLD: tuple[Cached, ...] = (
    *WE_WORLD,
    namespace("other"),
    service(namespace="other"),
    ready_slice({"web-0": "10.1.0.5"}, namespace="other"),
)
WORKLOAD_GROUP = OwnerReference(
    api_version="networking.istio.io/v1", kind="WorkloadGroup", name="web", uid="u1"
)

WORKLOAD_ENTRY_RULES = [
    pytest.param(WE_WORLD, workload_entry(), WRITES, None,
                 id="pod annotation opts a WorkloadEntry in"),
    pytest.param(WE_WORLD, workload_entry(pod=None), LEFT_ALONE, None,
                 id="a WorkloadEntry without the pod annotation is left alone"),
    pytest.param((namespace(managed=True), service(), ready_slice({"web-0": "10.0.0.5"})),
                 workload_entry(pod=None), LEFT_ALONE, None,
                 id="the namespace label does not opt WorkloadEntries in"),
    pytest.param(WE_WORLD, workload_entry(pod=None, annotations={
                     AUTO_REGISTRATION_ANNOTATION: "web"}), LEFT_ALONE, None,
                 id="an auto-registered WorkloadEntry is never touched"),
    pytest.param(WE_WORLD, workload_entry(annotations={AUTO_REGISTRATION_ANNOTATION: "web"}),
                 not_reconcilable(AUTO_REGISTRATION_ANNOTATION), None,
                 id="an auto-registered WorkloadEntry that opted in is not reconcilable"),
    pytest.param(WE_WORLD, workload_entry(owners=(WORKLOAD_GROUP,)),
                 not_reconcilable("WorkloadGroup web"), None,
                 id="a WorkloadEntry owned by a WorkloadGroup is not reconcilable"),
    pytest.param(WE_WORLD, workload_entry(annotations={IGNORE_ANNOTATION: "true"}),
                 LEFT_ALONE, None,
                 id="ignore wins over the pod annotation"),
    pytest.param(WE_OTHER_WORLD, workload_entry(pod="other/web-0"),
                 refused("namespace prod", "namespace other",
                         "--allow-cross-namespace prod=other"), None,
                 id="a cross-namespace pod reference is refused, naming both namespaces"),
    pytest.param(WE_OTHER_WORLD, workload_entry(pod="other/web-0"), WRITES,
                 PlanningSettings(allow_cross_namespace=frozenset({("prod", "other")})),
                 id="an allowed namespace pair may follow a pod across namespaces"),
    pytest.param(WE_WORLD, workload_entry(pod="web 0"), refused(POD_ANNOTATION), None,
                 id="a malformed pod annotation is refused"),
]  # fmt: skip


@pytest.mark.parametrize(("world", "entry", "expected", "settings"), WORKLOAD_ENTRY_RULES)
def test_workload_entry_opt_in(
    world: tuple[Cached, ...],
    entry: WorkloadEntry,
    expected: Expected,
    settings: PlanningSettings | None,
) -> None:
    action = plan_one(FakeView(world), entry, settings=settings)
    assert_outcome(action, expected, write_type=UpdateWorkloadEntryAddress)


def test_allowed_cross_namespace_workload_entry_reads_the_other_namespace() -> None:
    entry = workload_entry(pod="other/web-0")
    settings = PlanningSettings(allow_cross_namespace=frozenset({("prod", "other")}))
    action = plan_one(FakeView(WE_OTHER_WORLD), entry, settings=settings)
    assert isinstance(action, UpdateWorkloadEntryAddress)
    assert action.after == "10.1.0.5"


def assert_outcome(action: Action | None, expected: Expected, *, write_type: type) -> None:
    if expected is None:
        assert action is None
    elif expected == WRITES:
        assert isinstance(action, write_type), action
    else:
        assert isinstance(expected, Withheld)
        assert isinstance(action, NoWrite), action
        assert action.verdict is expected.verdict
        for fragment in expected.fragments:
            assert fragment in action.message


def test_a_malformed_annotation_of_any_size_is_refused_in_a_sentence_that_fits_an_event() -> None:
    value = "web-" + "x" * 200_000
    action = plan_one(FakeView(WORLD), annotated_entry(value, endpoints=STALE))
    assert isinstance(action, NoWrite)
    assert action.message == (
        f"{SERVICE_ANNOTATION}: 'web-{'x' * 60}…' (200004 characters) "
        "is not <service> or <namespace>/<service>"
    )
