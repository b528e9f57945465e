"""``run --dry-run``: the whole controller, observe-only, against a drifted world.

A team installs the controller with ``--dry-run`` to see what it would do
before letting it write. It must then plan and report every drifted object,
one log line per action, and send nothing at all: no patch, no Event.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from reconciler.applying.applier import Outcome
from reconciler.planning.references import POD_ANNOTATION, SERVICE_ANNOTATION

if TYPE_CHECKING:
    from tests.e2e.conftest import ControllerStarter, ControllerWrites, Istio, StatefulSetStarter

pytestmark = pytest.mark.e2e

STALE = "10.244.250.250"
CONTROLLER_LOGGER = "reconciler.runtime.controller"


async def drifted_world(statefulset: StatefulSetStarter, istio: Istio) -> str:
    """A managed ServiceEntry and WorkloadEntry both holding an address no pod has."""
    pods = await statefulset(2)
    await istio.create_service_entry(
        "web-static",
        endpoints=[istio.endpoint_of(pods, 0), {**istio.endpoint_of(pods, 1), "address": STALE}],
        annotations={SERVICE_ANNOTATION: "web"},
    )
    await istio.create_workload_entry("web-1", address=STALE, annotations={POD_ANNOTATION: "web-1"})
    return pods.pod(1).addresses[0]


async def test_dry_run_reports_every_drifted_object_and_writes_nothing(
    start_controller: ControllerStarter,
    statefulset: StatefulSetStarter,
    istio: Istio,
    controller_writes: ControllerWrites,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CONTROLLER_LOGGER)
    await drifted_world(statefulset, istio)
    before = controller_writes.mark()

    running = await start_controller(dry_run=True)
    for key in (istio.service_entry_key("web-static"), istio.workload_entry_key("web-1")):
        await running.reconciles.wait_for(key, Outcome.DRY_RUN)

    assert controller_writes(after=before) == [], "no patch and no Event in dry-run"
    logged = [r.getMessage() for r in caplog.records if r.name == CONTROLLER_LOGGER]
    for key in (istio.service_entry_key("web-static"), istio.workload_entry_key("web-1")):
        assert any(line.startswith(f"dry_run {key}") for line in logged), logged
    assert (await istio.get_service_entry("web-static"))["spec"]["endpoints"][1]["address"] == (
        STALE
    )


async def test_dry_run_logs_the_same_change_line_as_a_write(
    start_controller: ControllerStarter,
    statefulset: StatefulSetStarter,
    istio: Istio,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=CONTROLLER_LOGGER)
    now = await drifted_world(statefulset, istio)

    running = await start_controller(dry_run=True)
    applied = await running.reconciles.wait_for(
        istio.service_entry_key("web-static"), Outcome.DRY_RUN
    )

    assert applied.message == f"web-1: {STALE} -> {now}"
    logged = [r.getMessage() for r in caplog.records if r.name == CONTROLLER_LOGGER]
    assert f"dry_run {istio.service_entry_key('web-static')}: web-1: {STALE} -> {now}" in logged
