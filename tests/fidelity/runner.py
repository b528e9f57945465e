"""Running one transcript against a fresh simulated cluster, as its script says.

Each transcript gets its own :func:`simulated_cluster` (the EndpointSlice,
garbage and namespace controllers run, as kube-controller-manager did for the
recording) and its own event loop. The script rebuilds the starting state,
then the recorded exchanges are replayed in order and judged one by one.
Consecutive watches run side by side (they only read), so their timeouts
overlap instead of adding up.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from reconciler.simulator.cluster import simulated_cluster
from reconciler.simulator.store import Store

from .adaptations import Adaptation
from .replay import ADMIN, Replayer, Verdict
from .steps import Step, run_steps
from .transcripts import Exchange, Transcript


@dataclass(frozen=True, slots=True)
class Overlap:
    """Watches the recorder held open while it made other requests.

    The watches in ``watches`` start just before exchange ``start_before`` and
    are read to their end just before exchange ``end_before`` (None: at the end).
    """

    watches: tuple[int, ...]
    start_before: int
    end_before: int | None = None


@dataclass(frozen=True, slots=True)
class Script:
    """How to replay one transcript."""

    prelude: tuple[Step, ...] = ()
    """Unrecorded steps that build the state the transcript starts from."""
    before: Mapping[int, tuple[Step, ...]] = field(default_factory=dict)
    """Unrecorded steps to take just before an exchange."""
    eventual: frozenset[int] = frozenset()
    """Reads of a controller's result: repeated on store changes until they match."""
    auth: Mapping[int, str] = field(default_factory=dict)
    """Who sends an exchange (default: the admin's token)."""
    timeouts: Mapping[int, int] = field(default_factory=dict)
    """``timeoutSeconds`` of a watch, shortened (what arrives matters, not when)."""
    overlaps: tuple[Overlap, ...] = ()
    watch_cache_size: int | None = None
    """The simulator's watch-cache window, where the recording shows one evicting."""


EVENTUAL_WAIT = 5.0
"""Seconds a controller-dependent read may take to match."""
CONTROLLER_LATENCY = 0.2
"""The recorded garbage collector took 0.21 to 0.26 s to act (fidelity 09)."""


def run_transcript(
    recorded: Transcript, script: Script, adaptations: Mapping[int, Adaptation]
) -> dict[int, Verdict]:
    """Replay a whole transcript in a fresh loop and simulator; a verdict per exchange."""
    return asyncio.run(_run(recorded, script, adaptations))


async def _run(
    recorded: Transcript, script: Script, adaptations: Mapping[int, Adaptation]
) -> dict[int, Verdict]:
    verdicts: dict[int, Verdict] = {}
    store = Store(watch_cache_size=script.watch_cache_size)
    async with (
        simulated_cluster(
            store=store, controller_latency=CONTROLLER_LATENCY, future_resource_version_wait=0.2
        ) as sim,
        aiohttp.ClientSession() as session,
    ):
        replayer = Replayer(sim, session, adaptations=adaptations)
        try:
            await run_steps(replayer, script.prelude)
            await _exchanges(replayer, recorded, script, verdicts)
        except AssertionError as error:
            for exchange in recorded.exchanges:
                verdicts.setdefault(exchange.index, Verdict(exchange, (f"not replayed: {error}",)))
    return verdicts


async def _exchanges(
    replayer: Replayer, recorded: Transcript, script: Script, verdicts: dict[int, Verdict]
) -> None:
    exchanges = recorded.exchanges
    background: dict[int, asyncio.Task[Verdict]] = {}
    overlapping = {index for overlap in script.overlaps for index in overlap.watches}
    position = 0
    try:
        while position < len(exchanges):
            await _overlaps_at(position, replayer, recorded, script, background, verdicts)
            if position in overlapping:
                position += 1
                continue
            await run_steps(replayer, script.before.get(position, ()))
            group = _side_by_side(exchanges, position, script, overlapping)
            for verdict in await asyncio.gather(*(_one(replayer, e, script) for e in group)):
                verdicts[verdict.exchange.index] = verdict
            position += len(group)
        for overlap in script.overlaps:
            await _join(background, overlap.watches, verdicts)
    finally:
        for task in background.values():
            task.cancel()
        await asyncio.gather(*background.values(), return_exceptions=True)


async def _overlaps_at(
    position: int,
    replayer: Replayer,
    recorded: Transcript,
    script: Script,
    background: dict[int, asyncio.Task[Verdict]],
    verdicts: dict[int, Verdict],
) -> None:
    """Read the overlapping watches that end here; start those that begin here."""
    for overlap in script.overlaps:
        if overlap.end_before == position:
            await _join(background, overlap.watches, verdicts)
        if overlap.start_before == position:
            for index in overlap.watches:
                exchange = recorded.exchanges[index]
                background[index] = asyncio.create_task(_one(replayer, exchange, script))


def _side_by_side(
    exchanges: tuple[Exchange, ...], start: int, script: Script, overlapping: set[int]
) -> list[Exchange]:
    """The exchange at ``start`` and, if it is a watch, the watches right after it."""
    group = [exchanges[start]]
    if exchanges[start].response.stream is None:
        return group
    for exchange in exchanges[start + 1 :]:
        index = exchange.index
        if (
            exchange.response.stream is None
            or index in overlapping
            or script.before.get(index)
            or any(o.start_before == index or o.end_before == index for o in script.overlaps)
        ):
            break
        group.append(exchange)
    return group


async def _join(
    background: dict[int, asyncio.Task[Verdict]],
    indexes: tuple[int, ...],
    verdicts: dict[int, Verdict],
) -> None:
    for index in indexes:
        task = background.pop(index, None)
        if task is not None:
            verdicts[index] = await task


async def _one(replayer: Replayer, exchange: Exchange, script: Script) -> Verdict:
    query = exchange.request.query
    timeout = script.timeouts.get(exchange.index)
    if timeout is not None:
        query = re.sub(r"timeoutSeconds=\d+", f"timeoutSeconds={timeout}", query)
    return await replayer.replay(
        exchange,
        auth=script.auth.get(exchange.index, ADMIN),
        query=query,
        until_matched=EVENTUAL_WAIT if exchange.index in script.eventual else 0.0,
    )
