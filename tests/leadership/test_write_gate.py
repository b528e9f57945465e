"""The applier's leader-election fence: asked before every write, Events included."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from reconciler.api.client import KubeClient
from reconciler.applying.applier import NOT_LEADING_MESSAGE, Applier, Mode, Outcome
from reconciler.applying.events import EventRecorder
from reconciler.models.projections import Condition, ObjectMeta, WorkloadEntry, WorkloadSpec
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import (
    SetWorkloadEntryHealth,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
)

ENTRY = ObjectKey(Kind.SERVICE_ENTRY, "shop", "web-static")
WORKLOAD = ObjectKey(Kind.WORKLOAD_ENTRY, "shop", "web-1")


@dataclass
class Gate:
    open: bool = True

    def __call__(self) -> bool:
        return self.open


@dataclass
class RecordingClient:
    """Records every write; can close the gate after the first one, as a lost renewal would."""

    gate: Gate
    close_after_first_write: bool = False
    writes: list[tuple[str, str]] = field(default_factory=list)

    async def patch(
        self, resource: Any, namespace: str, name: str, body: Any, **options: Any
    ) -> Any:
        del namespace, name, body
        self.writes.append((resource.plural, options.get("subresource", "")))
        if self.close_after_first_write:
            self.gate.open = False
        return WorkloadEntry(metadata=ObjectMeta(resource_version="8"))


@dataclass
class RecordingEvents:
    reasons: list[str] = field(default_factory=list)

    async def emit(self, target: Any, *, reason: str, **details: Any) -> None:
        del target, details
        self.reasons.append(reason)


def applier(client: RecordingClient, events: RecordingEvents) -> Applier:
    return Applier(
        cast(KubeClient, client),
        mode=Mode.WRITE,
        events=cast(EventRecorder, events),
        may_write=client.gate,
    )


def endpoints_update() -> UpdateServiceEntryEndpoints:
    return UpdateServiceEntryEndpoints(
        key=ENTRY,
        resource_version="7",
        before=(WorkloadSpec(address="10.244.0.3"),),
        after=(WorkloadSpec(address="10.244.0.7"),),
        changes=(),
    )


def address_update_with_health() -> UpdateWorkloadEntryAddress:
    healthy = Condition(type="Healthy", status="True")
    return UpdateWorkloadEntryAddress(
        key=WORKLOAD,
        resource_version="7",
        pod="web-1",
        before="10.244.0.3",
        after="10.244.0.7",
        changes=(),
        health=SetWorkloadEntryHealth(
            key=WORKLOAD, resource_version="7", before=None, after=healthy, conditions=(healthy,)
        ),
    )


async def test_an_open_gate_lets_the_write_and_its_event_through() -> None:
    client, events = RecordingClient(Gate()), RecordingEvents()

    applied = await applier(client, events).apply(endpoints_update())

    assert applied.outcome is Outcome.UPDATED
    assert client.writes == [("serviceentries", "")]
    assert events.reasons == ["EndpointsUpdated"]


async def test_a_closed_gate_sends_nothing_and_records_no_event() -> None:
    client, events = RecordingClient(Gate(open=False)), RecordingEvents()

    applied = await applier(client, events).apply(endpoints_update())

    assert applied.outcome is Outcome.NOOP
    assert applied.message == NOT_LEADING_MESSAGE
    assert client.writes == []
    assert events.reasons == []


async def test_the_gate_is_asked_again_before_the_second_write_of_one_action() -> None:
    client = RecordingClient(Gate(), close_after_first_write=True)
    events = RecordingEvents()

    applied = await applier(client, events).apply(address_update_with_health())

    assert client.writes == [("workloadentries", "")], "the status write came after the loss"
    assert applied.message == NOT_LEADING_MESSAGE
    assert events.reasons == []
