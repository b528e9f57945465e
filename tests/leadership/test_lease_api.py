"""The elector's Lease calls against the simulator, which answers as a v1.28 API server does.

Fidelity transcript 10: MicroTime needs exactly six fractional digits (a
whole second too), a stale resourceVersion is 409, and a Lease cannot be
replaced without one (422), so every write the elector makes is conditional.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from reconciler.api.client import KubeClient, load_configuration
from reconciler.api.errors import AlreadyExistsError, ConflictError, InvalidError
from reconciler.leadership.elector import LeaderElector
from reconciler.leadership.lease import LEASES, KubeLeases, LeaseSpec
from reconciler.simulator.cluster import simulated_cluster

from .fakes import FakeClock

SPEC = LeaseSpec(
    holder_identity="a",
    lease_duration_seconds=15,
    acquire_time="2026-11-29T05:12:00.000000Z",
    renew_time="2026-11-29T05:12:00.000000Z",
    lease_transitions=0,
)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[KubeClient]:
    async with simulated_cluster() as sim:
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig")
        configuration = await load_configuration(kubeconfig=str(kubeconfig))
        async with KubeClient(configuration) as client:
            yield client


async def test_a_whole_second_micro_time_is_accepted_and_read_back_unchanged(
    client: KubeClient,
) -> None:
    leases = KubeLeases(client)

    created = await leases.create("default", "hr", SPEC)

    assert created.spec == SPEC
    assert await leases.get("default", "hr") == created


async def test_a_stale_resource_version_is_a_conflict(client: KubeClient) -> None:
    leases = KubeLeases(client)
    created = await leases.create("default", "hr", SPEC)
    renewed = msgspec.structs.replace(SPEC, renew_time="2026-11-29T05:12:02.000000Z")
    await leases.replace(
        "default", "hr", renewed, resource_version=created.metadata.resource_version
    )

    with pytest.raises(ConflictError):
        await leases.replace(
            "default", "hr", SPEC, resource_version=created.metadata.resource_version
        )


async def test_creating_an_existing_lease_is_already_exists(client: KubeClient) -> None:
    leases = KubeLeases(client)
    await leases.create("default", "hr", SPEC)

    with pytest.raises(AlreadyExistsError):
        await leases.create("default", "hr", SPEC)


async def test_a_replace_without_resource_version_is_refused(client: KubeClient) -> None:
    leases = KubeLeases(client)
    await leases.create("default", "hr", SPEC)

    with pytest.raises(InvalidError, match="must be specified for an update"):
        await leases.replace("default", "hr", SPEC, resource_version="")


async def test_a_missing_lease_reads_as_none(client: KubeClient) -> None:
    assert await KubeLeases(client).get("default", "absent") is None


async def test_the_elector_acquires_and_releases_through_the_api(client: KubeClient) -> None:
    leading = asyncio.Event()
    elector = LeaderElector(
        KubeLeases(client),
        namespace="default",
        name="hr",
        identity="a",
        clock=FakeClock(),
        on_started_leading=leading.set,
    )
    campaign = asyncio.create_task(elector.run())
    try:
        await asyncio.wait_for(leading.wait(), 5)
    finally:
        campaign.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await campaign

    assert elector.may_write()
    assert await elector.release()

    released = await client.get(LEASES, "default", "hr")
    assert released.spec.holder_identity is None
    assert released.spec.lease_duration_seconds == 1
    assert released.spec.renew_time == "2026-11-29T05:12:00.000000Z"
