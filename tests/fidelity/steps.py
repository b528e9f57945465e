"""Building blocks of a replay script: unrecorded setup requests and waits.

A transcript starts from a state the recorder had built beforehand (the
namespaces, the Node, objects created by earlier transcripts, pods whose
creation was not recorded). Scripts rebuild that state through the API, with
these steps, before and between the recorded exchanges.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .replay import ADMIN, Replayer
from .transcripts import Request, transcript


@dataclass(frozen=True, slots=True)
class Call:
    """An unrecorded request the recorder made; it must succeed."""

    method: str
    path: str
    body: Any = None
    """A JSON body, or a function of the replayer that makes one (to quote a uid)."""
    content_type: str | None = "application/json"
    query: str = ""

    async def run(self, replayer: Replayer) -> None:
        body = self.body(replayer) if callable(self.body) else self.body
        content_type = self.content_type if body is not None else None
        request = Request(self.method, self.path, self.query, content_type, body, "*/*")
        reply = await replayer.send(request)
        if reply.status >= 300:
            raise AssertionError(
                f"setup {self.method} {self.path} answered {reply.status}: {reply.raw[:300]!r}"
            )


@dataclass(frozen=True, slots=True)
class Replay:
    """A recorded exchange of another transcript, replayed as setup.

    Its answer is judged only for its status, but the values it hands out are
    learnt, so later requests that quote them (an owner's uid) are translated.
    """

    transcript: str
    index: int

    async def run(self, replayer: Replayer) -> None:
        exchange = transcript(self.transcript).exchanges[self.index]
        reply = await replayer.send(exchange.request, auth=ADMIN)
        if reply.status != exchange.response.status:
            raise AssertionError(
                f"setup replay of {exchange.label} answered {reply.status}: {reply.raw[:300]!r}"
            )
        replayer.judge(exchange, reply, own=False)


@dataclass(frozen=True, slots=True)
class Until:
    """Wait (on store changes, up to ``timeout`` seconds) until a GET's JSON passes a check."""

    description: str
    path: str
    check: Callable[[Any], bool]
    query: str = ""
    timeout: float = 5.0

    async def run(self, replayer: Replayer) -> None:
        request = Request("GET", self.path, self.query, None, None, "application/json")
        feed = replayer.sim.store.subscribe()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        try:
            while True:
                reply = await replayer.send(request)
                if reply.status == 200 and self.check(reply.json()):
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"timed out waiting until {self.description}")
                try:
                    await asyncio.wait_for(feed.get(), timeout=remaining)
                except TimeoutError as error:
                    raise AssertionError(f"timed out waiting until {self.description}") from error
        finally:
            feed.close()


@dataclass(frozen=True, slots=True)
class Do:
    """Something done to the simulator itself (compaction), described for the reader."""

    description: str
    action: Callable[[Replayer], Awaitable[None]]

    async def run(self, replayer: Replayer) -> None:
        await self.action(replayer)


Step = Call | Replay | Until | Do


async def run_steps(replayer: Replayer, steps: tuple[Step, ...]) -> None:
    for step in steps:
        await step.run(replayer)
