"""Carries out one planned action: the write, its Event, and what came of it.

This is the only place that decides whether anything is written (STYLE.md,
point 3): ``Mode.DRY_RUN`` computes and reports but sends nothing (no patch, no
Event); ``Mode.SERVER_DRY_RUN`` sends every write, Events included, with
``dryRun=All`` so the API server's admission and validation run and nothing
persists.

Events about a paired Service are recorded on its headless Service: that is
the object the user annotated and describes, and a deleted twin cannot be
described. Notes (advice such as a gRPC port Istio cannot name) become one
Warning Event each, once per distinct message, like refusals.

With leader election, ``may_write`` is asked right before every request that
writes (each patch, create, delete and Event): the moment the leader's renew
deadline passes, nothing more is sent, even in the middle of a plan, and the
action is reported as not written.

What the caller does next depends only on the returned :class:`Outcome`:
``CONFLICT`` means the object changed under us (409) and the key is re-planned
from fresh cache; ``REFUSED`` from a 422 is reported and not retried (retrying
an invalid write cannot succeed); transient errors surface as ``ApiError``
exceptions after the client's own retries, for the queue's backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from reconciler.api.client import KubeClient
from reconciler.api.errors import (
    ConflictError,
    InvalidError,
    NotFoundError,
    PermanentError,
    WriteFencedError,
)
from reconciler.api.resources import SERVICE_ENTRIES, SERVICES, WORKLOAD_ENTRIES
from reconciler.applying.events import EventRecorder, EventTarget, EventType
from reconciler.applying.messages import describe_action
from reconciler.applying.patches import (
    MERGE_PATCH,
    health_patch,
    paired_service_body,
    paired_service_patch,
    paired_service_preconditions,
    service_entry_patch,
    workload_entry_patch,
)
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import (
    Action,
    CreatePairedService,
    DeletePairedService,
    Note,
    NoWrite,
    PairedServiceAction,
    SetWorkloadEntryHealth,
    UpdatePairedService,
    UpdateServiceEntryEndpoints,
    UpdateWorkloadEntryAddress,
    Verdict,
    WriteAction,
)

ISTIO_API_VERSION = "networking.istio.io/v1"
API_VERSIONS = {Kind.SERVICE: "v1", Kind.NAMESPACE: "v1"}
"""``involvedObject.apiVersion`` by kind; Istio's for the others."""


class Mode(StrEnum):
    WRITE = "write"
    DRY_RUN = "dry_run"
    SERVER_DRY_RUN = "server_dry_run"


class Outcome(StrEnum):
    """The ``result`` label of ``headless_reconciler_reconcile_total``."""

    NOOP = "noop"
    UPDATED = "updated"
    CONFLICT = "conflict"
    ERROR = "error"
    REFUSED = "refused"
    HELD = "held"
    DRY_RUN = "dry_run"


_WITHHELD_OUTCOME = {
    Verdict.REFUSED: Outcome.REFUSED,
    Verdict.NOT_RECONCILABLE: Outcome.REFUSED,
    Verdict.CONFLICT: Outcome.REFUSED,
    Verdict.HELD: Outcome.HELD,
    Verdict.NO_ADDRESS: Outcome.NOOP,
}

_WITHHELD_EVENT: dict[Verdict, tuple[EventType, str]] = {
    Verdict.REFUSED: ("Warning", "Refused"),
    Verdict.NOT_RECONCILABLE: ("Warning", "NotReconcilable"),
    Verdict.CONFLICT: ("Warning", "Conflict"),
    Verdict.HELD: ("Warning", "RemovalHeld"),
    Verdict.NO_ADDRESS: ("Warning", "PodNotReady"),
}


_WRITE_EVENT_REASONS: dict[type[WriteAction], str] = {
    UpdateServiceEntryEndpoints: "EndpointsUpdated",
    UpdateWorkloadEntryAddress: "AddressUpdated",
    SetWorkloadEntryHealth: "HealthUpdated",
    CreatePairedService: "PairedServiceCreated",
    UpdatePairedService: "PairedServiceUpdated",
    DeletePairedService: "PairedServiceDeleted",
}


@dataclass(frozen=True, slots=True)
class Applied:
    """What happened to one action."""

    key: ObjectKey
    outcome: Outcome
    message: str = ""


UidLookup = Callable[[ObjectKey], str]

WriteGate = Callable[[], bool]
"""Asked before every write; False while this replica is not the leader (nothing is sent)."""

NOT_LEADING_MESSAGE = "not written: this replica is not the leader (any more)"


class NotLeading(Exception):
    """Raised by the gate inside the applier; ``apply`` reports it as a write not made."""


class Applier:
    """Writes plan actions with resourceVersion preconditions and records Events."""

    def __init__(
        self,
        client: KubeClient,
        *,
        mode: Mode,
        events: EventRecorder | None = None,
        uid_of: UidLookup | None = None,
        may_write: WriteGate | None = None,
    ) -> None:
        self._client = client
        self._mode = mode
        self._events = events
        self._uid_of = uid_of
        self._may_write = may_write
        self._last_withheld: dict[ObjectKey, tuple[Verdict, str]] = {}
        self._last_notes: dict[ObjectKey, frozenset[tuple[str, str]]] = {}
        self._refused_writes: dict[ObjectKey, tuple[WriteAction, str]] = {}
        """The last write the API refused per object: the very same write is not sent again.

        Kept until a write of that object succeeds; any change of the object gives a new
        resourceVersion, so a new write, which is sent.
        """

    @property
    def mode(self) -> Mode:
        return self._mode

    async def apply(self, action: Action) -> Applied:
        """Carry out ``action``; raises the client's ``ApiError`` for transient failures."""
        if isinstance(action, NoWrite):
            return await self._withhold(action)
        self._last_withheld.pop(action.key, None)
        if self._mode is Mode.DRY_RUN:
            return Applied(action.key, Outcome.DRY_RUN, describe_action(action))
        refused = self._refused_writes.get(action.key)
        if refused is not None and refused[0] == action:
            return Applied(action.key, Outcome.REFUSED, refused[1])
        try:
            message = await self._write(action)
        except ConflictError as error:
            return Applied(action.key, Outcome.CONFLICT, error.message)
        except NotFoundError:
            return Applied(action.key, Outcome.NOOP, "the object was deleted meanwhile")
        except (NotLeading, WriteFencedError):
            return Applied(action.key, Outcome.NOOP, NOT_LEADING_MESSAGE)
        except (InvalidError, PermanentError) as error:
            # 422 (validation) or 400 (an admission webhook such as istiod's): the same
            # request will be refused again. Said once; sent again only once the plan changes.
            self._refused_writes[action.key] = (action, error.message)
            await self._emit(
                _event_key(action), "Warning", "Refused", f"API refused: {error.message}"
            )
            return Applied(action.key, Outcome.REFUSED, error.message)
        self._refused_writes.pop(action.key, None)
        outcome = Outcome.DRY_RUN if self._mode is Mode.SERVER_DRY_RUN else Outcome.UPDATED
        if outcome is Outcome.UPDATED:
            reason = _WRITE_EVENT_REASONS[type(action)]
            await self._emit(_event_key(action), "Normal", reason, message)
        return Applied(action.key, outcome, message)

    async def note(self, key: ObjectKey, notes: Iterable[Note]) -> tuple[Note, ...]:
        """Record the notes about ``key`` as Warning Events, each once while it lasts.

        ``notes`` is what the latest plan says about ``key``: a note that is no
        longer there is forgotten, so it is recorded again if it comes back.
        Returns the notes that are new (recorded now, or only reported in dry-run).
        """
        current = {(note.reason, note.message): note for note in notes if note.key == key}
        remembered = self._last_notes.pop(key, frozenset())
        if current:
            self._last_notes[key] = frozenset(current)
        fresh = tuple(current[seen] for seen in sorted(current.keys() - remembered))
        if self._mode is not Mode.DRY_RUN:
            for note in fresh:
                await self._emit(key, "Warning", note.reason, note.message)
        return fresh

    def forget(self, key: ObjectKey) -> None:
        """Drop what is remembered about an object that is gone."""
        self._last_withheld.pop(key, None)

    async def _write(self, action: WriteAction) -> str:
        key = action.key
        dry_run = self._mode is Mode.SERVER_DRY_RUN
        if isinstance(action, PairedServiceAction):
            await self._write_paired_service(action, dry_run=dry_run)
            return describe_action(action)
        if isinstance(action, UpdateServiceEntryEndpoints):
            self._guard()
            await self._client.patch(
                SERVICE_ENTRIES,
                key.namespace,
                key.name,
                service_entry_patch(action),
                content_type=MERGE_PATCH,
                dry_run=dry_run,
            )
            return describe_action(action)
        if isinstance(action, UpdateWorkloadEntryAddress):
            self._guard()
            written = await self._client.patch(
                WORKLOAD_ENTRIES,
                key.namespace,
                key.name,
                workload_entry_patch(action),
                content_type=MERGE_PATCH,
                dry_run=dry_run,
            )
            if action.health is not None:
                # The status write must carry the revision the spec write produced.
                resource_version = (
                    action.resource_version if dry_run else written.metadata.resource_version
                )
                await self._write_health(action.health, resource_version, dry_run=dry_run)
            return describe_action(action)
        await self._write_health(action, action.resource_version, dry_run=dry_run)
        return describe_action(action)

    async def _write_paired_service(self, action: PairedServiceAction, *, dry_run: bool) -> None:
        key = action.key
        if isinstance(action, CreatePairedService):
            self._guard()
            await self._client.create(
                SERVICES, key.namespace, paired_service_body(action), dry_run=dry_run
            )
        elif isinstance(action, UpdatePairedService):
            self._guard()
            await self._client.patch(
                SERVICES,
                key.namespace,
                key.name,
                paired_service_patch(action),
                content_type=MERGE_PATCH,
                dry_run=dry_run,
            )
        else:
            self._guard()
            await self._client.delete(
                SERVICES,
                key.namespace,
                key.name,
                preconditions=paired_service_preconditions(action),
                dry_run=dry_run,
            )

    async def _write_health(
        self, action: SetWorkloadEntryHealth, resource_version: str, *, dry_run: bool
    ) -> None:
        self._guard()
        await self._client.patch(
            WORKLOAD_ENTRIES,
            action.key.namespace,
            action.key.name,
            health_patch(action, resource_version=resource_version),
            content_type=MERGE_PATCH,
            dry_run=dry_run,
            subresource="status",
        )

    async def _withhold(self, action: NoWrite) -> Applied:
        """Report a refusal or hold once per distinct message, not on every resync."""
        outcome = _WITHHELD_OUTCOME[action.verdict]
        remembered = (action.verdict, action.message)
        if self._mode is not Mode.DRY_RUN and self._last_withheld.get(action.key) != remembered:
            self._last_withheld[action.key] = remembered
            event_type, reason = _WITHHELD_EVENT[action.verdict]
            await self._emit(action.key, event_type, reason, action.message)
        return Applied(action.key, outcome, action.message)

    def _guard(self) -> None:
        """Checked right before every request that writes (leader election's fence)."""
        if self._may_write is not None and not self._may_write():
            raise NotLeading

    async def _emit(self, key: ObjectKey, type: EventType, reason: str, message: str) -> None:
        if self._events is None or (self._may_write is not None and not self._may_write()):
            return
        target = EventTarget(
            api_version=API_VERSIONS.get(key.kind, ISTIO_API_VERSION),
            kind=str(key.kind),
            namespace=key.namespace,
            name=key.name,
            uid=self._uid_of(key) if self._uid_of is not None else "",
        )
        await self._events.emit(
            target,
            type=type,
            reason=reason,
            message=message,
            dry_run=self._mode is Mode.SERVER_DRY_RUN,
        )


def _event_key(action: WriteAction) -> ObjectKey:
    """The object an action's Event is about: for a paired Service, its headless Service."""
    return action.source if isinstance(action, PairedServiceAction) else action.key
