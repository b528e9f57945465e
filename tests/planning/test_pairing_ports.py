"""Port-name analysis: a gRPC-looking port whose name Istio cannot read is reported.

Istio takes a port's protocol from appProtocol, else from the name's prefix
(``<protocol>[-<suffix>]``); a gRPC port named ``api`` is proxied as plain TCP
where Istio goes by the name, and a namespace-wide opt-in does not even see
it as gRPC. The planner adds a note (a Warning Event, a line in ``diff``) to
the plan of a headless Service that opted in; nothing is written.
"""

from __future__ import annotations

import pytest

from reconciler.models.projections import ServicePort
from reconciler.planning.grpc import istio_name_protocol, port_name_problems
from reconciler.planning.pairing import PORT_NAME_REASON
from reconciler.planning.references import IGNORE_ANNOTATION

from .builders import namespace
from .conftest import FakeView
from .pairing_builders import ASKS, HTTP, headless, pair, service_key


@pytest.mark.parametrize(
    ("port", "hint"),
    [
        pytest.param(ServicePort(name="api", port=50051), "port 50051", id="conventional-port"),
        pytest.param(
            ServicePort(name="api", port=8080, target_port=50051), "port 50051", id="target-50051"
        ),
        pytest.param(
            ServicePort(name="api", port=9090, app_protocol="grpc"),
            "appProtocol grpc",
            id="app-protocol-grpc",
        ),
        pytest.param(
            ServicePort(name="rpc", port=9090, app_protocol="kubernetes.io/h2c"),
            "appProtocol kubernetes.io/h2c",
            id="app-protocol-h2c",
        ),
        pytest.param(
            ServicePort(name="web-grpc", port=9090),
            "mentions grpc after another word",
            id="grpc-suffix-instead-of-prefix",
        ),
        pytest.param(ServicePort(name="", port=50051), "the unnamed port", id="unnamed"),
    ],
)
def test_a_grpc_looking_port_without_an_istio_prefix_is_reported(
    port: ServicePort, hint: str
) -> None:
    (problem,) = port_name_problems([port])

    assert hint in problem
    assert str(port.port) in problem


@pytest.mark.parametrize(
    "port",
    [
        pytest.param(ServicePort(name="grpc", port=50051), id="named-grpc"),
        pytest.param(ServicePort(name="grpc-web", port=50051), id="named-grpc-web"),
        pytest.param(ServicePort(name="http2-api", port=50051), id="http2-prefix"),
        pytest.param(ServicePort(name="tcp-grpc", port=9090), id="tcp-chosen-on-purpose"),
        pytest.param(ServicePort(name="api", port=9090), id="9090-is-no-hint"),
        pytest.param(ServicePort(name="api", port=8080, app_protocol="http"), id="plain-http"),
        pytest.param(ServicePort(name="api", port=50051, protocol="UDP"), id="udp"),
    ],
)
def test_ports_that_are_named_for_istio_or_do_not_look_like_grpc_are_fine(
    port: ServicePort,
) -> None:
    assert port_name_problems([port]) == ()


@pytest.mark.parametrize(
    ("name", "protocol"),
    [
        ("grpc", "grpc"),
        ("GRPC-api", "grpc"),
        ("grpc-web", "grpc-web"),
        ("grpc-web-ui", "grpc-web"),
        ("grpc-webx", "grpc"),
        ("http2", "http2"),
        ("https-admin", "https"),
        ("api", None),
        ("", None),
    ],
)
def test_istio_reads_the_protocol_from_the_name_prefix(name: str, protocol: str | None) -> None:
    assert istio_name_protocol(name) == protocol


def test_an_opted_in_service_with_a_misnamed_port_gets_one_note_naming_each_port() -> None:
    ports = (HTTP, ServicePort(name="api", port=50051), ServicePort(name="web-grpc", port=9000))
    view = FakeView([namespace(), headless(annotations=ASKS, ports=ports)])

    (note,) = pair(view).notes

    assert (note.key, note.reason) == (service_key("web"), PORT_NAME_REASON)
    assert "port api (50051)" in note.message
    assert "port web-grpc (9000)" in note.message
    assert "name them grpc or grpc-<suffix>" in note.message


def test_in_a_managed_namespace_a_misnamed_grpc_service_is_not_paired_but_noted() -> None:
    ports = (ServicePort(name="api", port=50051, target_port=50051),)
    view = FakeView([namespace(managed=True), headless(ports=ports)])

    pairing = pair(view)

    assert pairing.actions == ()
    assert [note.reason for note in pairing.notes] == [PORT_NAME_REASON]


@pytest.mark.parametrize(
    ("annotations", "managed"),
    [
        pytest.param({}, False, id="not-opted-in"),
        pytest.param({**ASKS, IGNORE_ANNOTATION: "true"}, False, id="ignored"),
    ],
)
def test_services_that_did_not_opt_in_get_no_advice(
    annotations: dict[str, str], managed: bool
) -> None:
    ports = (ServicePort(name="api", port=50051),)
    view = FakeView([namespace(managed=managed), headless(annotations=annotations, ports=ports)])

    assert pair(view).notes == ()


def test_a_service_with_a_cluster_ip_gets_no_advice() -> None:
    ports = (ServicePort(name="api", port=50051),)
    view = FakeView([namespace(managed=True), headless(ports=ports, cluster_ip="10.96.0.3")])

    assert pair(view).notes == ()
