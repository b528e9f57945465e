"""Test doubles for the watch layer: a scripted API client and a dict-based consumer.

The scripted client plays the API server's part at the level the watcher uses
(``list_page`` bytes and ``stream_watch`` lines), so the watcher's state
machine can be driven step by step with no network and no sleeping. The
integration tests against the simulator use the real client instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import Any

import orjson
import pytest

from reconciler.api.errors import ApiError
from reconciler.watching import Applied, Deleted, Relisted

HANG = "hang"
"""A watch script item: the stream stays open and silent until closed or cancelled."""


class ScriptedClient:
    """Answers ``list_page`` and ``stream_watch`` from scripts, recording every call."""

    HANG = HANG

    def __init__(self) -> None:
        self.pages: list[bytes | ApiError] = []
        self.streams: list[list[bytes | ApiError | str] | ApiError] = []
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.open_streams = 0

    async def list_page(self, resource: object, **options: Any) -> bytes:
        self.list_calls.append(options)
        answer = self.pages.pop(0)
        if isinstance(answer, ApiError):
            raise answer
        return answer

    async def stream_watch(self, resource: object, **options: Any) -> AsyncGenerator[bytes, None]:
        self.watch_calls.append(options)
        script = self.streams.pop(0) if self.streams else [HANG]
        if isinstance(script, ApiError):
            raise script
        self.open_streams += 1
        try:
            for item in script:
                if isinstance(item, ApiError):
                    raise item
                if item == HANG:
                    await asyncio.Event().wait()
                assert isinstance(item, bytes)
                yield item
        finally:
            self.open_streams -= 1


class DictStore:
    """The smallest consumer of watcher events: objects by namespace and name."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], Any] = {}
        self.relists = 0

    def apply(self, event: Relisted[Any] | Applied[Any] | Deleted[Any]) -> None:
        match event:
            case Relisted(objects=objects):
                self.relists += 1
                self.objects = {self.key(obj): obj for obj in objects}
            case Applied(object=obj):
                self.objects[self.key(obj)] = obj
            case Deleted(object=obj):
                self.objects.pop(self.key(obj), None)

    @staticmethod
    def key(obj: Any) -> tuple[str, str]:
        return (obj.metadata.namespace, obj.metadata.name)


class SleepRecorder:
    """Stands in for ``asyncio.sleep``: records each delay and only yields to the loop."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class Wire:
    """Builds what the API server sends: list pages and watch lines, compact JSON bytes."""

    @staticmethod
    def slice(name: str, resource_version: str, *addresses: str) -> dict[str, Any]:
        return {
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": resource_version},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses],
        }

    @staticmethod
    def page(resource_version: str, *items: dict[str, Any], continue_token: str = "") -> bytes:
        metadata = {"resourceVersion": resource_version}
        if continue_token:
            metadata["continue"] = continue_token
        return orjson.dumps({"kind": "EndpointSliceList", "metadata": metadata, "items": items})

    @staticmethod
    def line(change: str, obj: dict[str, Any]) -> bytes:
        return orjson.dumps({"type": change, "object": obj})

    @staticmethod
    def bookmark(resource_version: str) -> bytes:
        zero_value = {
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"resourceVersion": resource_version, "creationTimestamp": None},
            "addressType": "",
            "endpoints": None,
            "ports": None,
        }
        return Wire.line("BOOKMARK", zero_value)

    @staticmethod
    def expired(resource_version: str) -> bytes:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {resource_version} (500)",
            "reason": "Expired",
            "code": 410,
        }
        return Wire.line("ERROR", status)


@pytest.fixture
def client() -> ScriptedClient:
    return ScriptedClient()


@pytest.fixture
def sleep() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def new_store() -> Callable[[], DictStore]:
    return DictStore


@pytest.fixture
def wire() -> type[Wire]:
    return Wire
