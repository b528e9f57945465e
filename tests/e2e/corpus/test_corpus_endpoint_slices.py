"""Corpus, EndpointSlices of odd shapes: the entry lists each pod once, at an IP (issue 9).

Every slice here is written by hand for a headless Service without a
selector (see ``corpus_world``), exactly as another controller, a mirroring
tool or a multi-cluster agent could write it. The controller must read each
the way SPEC section 3 says (skip FQDN slices, name a pod by ``targetRef``
then ``hostname``, de-duplicate by address, one address per pod) and write a
list Istio accepts: IP addresses only, each once, in natural pod order.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from corpus_world import (
    address_of,
    endpoint_addresses,
    endpoint_pods,
    labelled_endpoint,
    pod_endpoints,
    slice_endpoint,
    static_spec,
)

from reconciler.applying.applier import Outcome
from reconciler.planning.references import SERVICE_ANNOTATION

if TYPE_CHECKING:
    from corpus_world import RawWorld

    from tests.e2e.conftest import ControllerStarter, ControllerWrites, Istio, RunningController

pytestmark = pytest.mark.e2e

FOLLOWS_DB = {SERVICE_ANNOTATION: "db"}
STALE = "10.244.250.250"
"""An address no endpoint of these tests ever has."""


async def test_fqdn_slice_is_skipped_and_no_hostname_is_written_as_an_address(
    istio: Istio, raw: RawWorld, written_by: ControllerWrites, controller: RunningController
) -> None:
    await raw.create_service("db")
    await raw.create_slice(
        "db-ip", service="db", endpoints=[slice_endpoint("10.1.0.1", pod="db-0")]
    )
    await raw.create_slice(
        "db-fqdn",
        service="db",
        address_type="FQDN",
        endpoints=[slice_endpoint("db-1.example.com", pod="db-1", hostname="db-1")],
    )

    await raw.create_service_entry(
        "db-all", spec=static_spec([istio.host("db")]), annotations=FOLLOWS_DB
    )

    entry = await istio.wait_for_endpoints("db-all", ["10.1.0.1"])
    event = await istio.wait_for_event(about="db-all", reason="EndpointsUpdated")
    assert endpoint_pods(entry) == ["db-0"]
    assert event["message"] == "db-0: added 10.1.0.1"
    for write in written_by(resource="serviceentries", name="db-all"):
        assert "db-1.example.com" not in str(write.body)


async def test_endpoint_without_target_ref_is_named_by_hostname_and_one_naming_nothing_is_skipped(
    istio: Istio, raw: RawWorld, controller: RunningController
) -> None:
    await raw.create_service("db")
    endpoints = [
        slice_endpoint("10.1.0.1", hostname="db-0"),
        slice_endpoint("10.1.0.2"),
        slice_endpoint("10.1.0.3", pod="db-2"),
    ]
    await raw.create_slice("db-a", service="db", endpoints=endpoints)

    await raw.create_service_entry(
        "db-all", spec=static_spec([istio.host("db")]), annotations=FOLLOWS_DB
    )

    entry = await istio.wait_for_endpoints("db-all", ["10.1.0.1", "10.1.0.3"])
    assert endpoint_pods(entry) == ["db-0", "db-2"]


async def test_duplicate_addresses_are_listed_once_for_the_first_pod_in_natural_order(
    istio: Istio, raw: RawWorld, controller: RunningController
) -> None:
    await raw.create_service("db")
    shared = "10.1.0.7"
    await raw.create_slice(
        "db-a",
        service="db",
        endpoints=[
            slice_endpoint(shared, pod="db-10"),
            slice_endpoint(shared, pod="db-2"),
            slice_endpoint("10.1.0.3", pod="db-3"),
        ],
    )
    await raw.create_slice("db-b", service="db", endpoints=[slice_endpoint(shared, pod="db-2")])

    await raw.create_service_entry(
        "db-all", spec=static_spec([istio.host("db")]), annotations=FOLLOWS_DB
    )

    entry = await istio.wait_for_endpoints("db-all", [shared, "10.1.0.3"])
    assert endpoint_pods(entry) == ["db-2", "db-3"], "db-10 has no address of its own left"


async def test_pod_in_two_slices_gets_one_endpoint_and_follows_the_slice_that_keeps_it(
    istio: Istio, raw: RawWorld, controller: RunningController
) -> None:
    await raw.create_service("db")
    lagging, current = "10.1.0.9", "10.1.0.4"
    await raw.create_slice(
        "db-a",
        service="db",
        endpoints=[
            slice_endpoint("10.1.0.1", pod="db-0"),
            slice_endpoint(lagging, pod="db-1", uid="earlier"),
        ],
    )
    await raw.create_slice("db-b", service="db", endpoints=[slice_endpoint(current, pod="db-1")])
    spec = static_spec([istio.host("db")], endpoints=[labelled_endpoint(STALE, "db-1", weight=7)])

    await raw.create_service_entry("db-all", spec=spec, annotations=FOLLOWS_DB)

    entry = await istio.wait_for_endpoints("db-all", ["10.1.0.1", current])
    assert endpoint_pods(entry) == ["db-0", "db-1"]
    assert entry["spec"]["endpoints"][1]["weight"] == 7, "one pod, one endpoint, its fields kept"
    await raw.replace_slice_endpoints("db-b", [])
    entry = await istio.wait_for_endpoints("db-all", ["10.1.0.1", lagging])
    assert entry["spec"]["endpoints"][1]["weight"] == 7


async def test_slice_with_1000_endpoints_is_listed_whole_in_natural_order_and_one_change_one_write(
    istio: Istio,
    raw: RawWorld,
    written_by: ControllerWrites,
    start_controller: ControllerStarter,
) -> None:
    await raw.create_service("db")
    endpoints = pod_endpoints(1000, prefix="db")
    await raw.create_slice("db-a", service="db", endpoints=list(reversed(endpoints)))
    await raw.create_service_entry(
        "db-all", spec=static_spec([istio.host("db")]), annotations=FOLLOWS_DB
    )
    key = istio.service_entry_key("db-all")
    started = asyncio.get_running_loop().time()

    running = await start_controller()

    await running.reconciles.wait_for(key, Outcome.UPDATED)
    entry = await istio.get_service_entry("db-all")
    assert endpoint_addresses(entry) == [address_of(index) for index in range(1000)]
    assert endpoint_pods(entry)[:3] == ["db-0", "db-1", "db-2"]
    assert endpoint_pods(entry)[-1] == "db-999"
    mark, writes = running.reconciles.mark(), written_by.mark()
    endpoints[500] = slice_endpoint(STALE, pod="db-500")
    await raw.replace_slice_endpoints("db-a", endpoints)
    updated = await running.reconciles.wait_for(key, Outcome.UPDATED, after=mark)
    assert updated.message == f"db-500: {address_of(500)} -> {STALE}"
    if written_by.log:
        assert len(written_by(resource="serviceentries", name="db-all", after=writes)) == 1
    assert asyncio.get_running_loop().time() - started < 5.0, "1,000 endpoints stay cheap"
