"""Child processes that speak JSON lines: spawn, read events, wait for one, send commands."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

JsonObject = dict[str, Any]
Predicate = Callable[[JsonObject], bool]

REPO = Path(__file__).resolve().parent.parent


def child_environment() -> dict[str, str]:
    """The parent's environment with the repository importable (``benchmarks`` is not installed)."""
    environment = dict(os.environ)
    paths = [str(REPO), *filter(None, environment.get("PYTHONPATH", "").split(os.pathsep))]
    environment["PYTHONPATH"] = os.pathsep.join(paths)
    return environment


class Child:
    """One ``python -m <module> ...`` process and the JSON lines it prints."""

    def __init__(self, process: asyncio.subprocess.Process, started: float) -> None:
        self.process = process
        self.started = started
        """``time.monotonic()`` just before the process was spawned."""
        self.events: list[JsonObject] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        self._stderr: list[bytes] = []
        self._errors = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def spawn(cls, module: str, *args: str) -> Child:
        started = time.monotonic()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_environment(),
            limit=2**24,
        )
        return cls(process, started)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
            self._changed.set()
        self._changed.set()

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self._stderr.append(chunk)

    @property
    def stderr(self) -> str:
        return b"".join(self._stderr).decode(errors="replace")

    async def wait_for(
        self, predicate: Predicate, *, after: int = 0, within: float = 60.0
    ) -> JsonObject:
        """The first event from index ``after`` on that matches; fails on timeout or exit."""
        async with asyncio.timeout(within):
            position = after
            while True:
                while position < len(self.events):
                    event = self.events[position]
                    position += 1
                    if predicate(event):
                        return event
                if self._reader.done():
                    raise RuntimeError(f"child exited; stderr:\n{self.stderr[-4000:]}")
                self._changed.clear()
                await self._changed.wait()

    async def event(self, name: str, *, after: int = 0, within: float = 60.0) -> JsonObject:
        return await self.wait_for(lambda e: e.get("event") == name, after=after, within=within)

    def send(self, command: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(command.encode() + b"\n")

    async def finish(self, *, within: float = 30.0) -> int:
        """Close stdin (the agent's ``stop``), wait for the exit; kill it if it hangs."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            code = await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            self.process.kill()
            code = await self.process.wait()
        await self._reader
        await self._errors
        return code
