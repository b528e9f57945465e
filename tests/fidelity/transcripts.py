"""The recorded transcripts of a real API server, loaded as plain data.

They live outside this repository, in ``<repo>/../shared/fidelity`` (a
read-only copy sits at the same relative place in CI). The file format is
described in that directory's README; this module only gives it types.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import orjson

FIDELITY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "fidelity"


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: str
    """Exactly as sent: URL-encoded, without the ``?``."""
    content_type: str | None
    body: Any
    """Parsed JSON, a string (YAML, malformed JSON), or None."""
    accept: str


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    content_type: str
    body: Any
    stream: list[Any] | None
    """One parsed object per line, for streamed (watch) answers."""
    headers: dict[str, str]
    extras: dict[str, Any]
    """Recorder annotations such as ``raw_text_head`` or ``recorder_summary``."""


@dataclass(frozen=True, slots=True)
class Exchange:
    transcript: str
    index: int
    request: Request
    response: Response
    note: str

    @property
    def label(self) -> str:
        """A readable test id: ``03-endpointslices-controller#07 GET endpointslices``."""
        resource = self.request.path.rstrip("/").rsplit("/", 1)[-1]
        return f"{self.transcript}#{self.index:02d}-{self.request.method}-{resource}"


@dataclass(frozen=True, slots=True)
class Transcript:
    name: str
    """The file name without ``.json``, e.g. ``03-endpointslices-controller``."""
    case: str
    why: str
    exchanges: tuple[Exchange, ...]
    extras: dict[str, Any]


def available() -> bool:
    return FIDELITY_DIR.is_dir() and any(FIDELITY_DIR.glob("*.json"))


@cache
def load_all() -> tuple[Transcript, ...]:
    """Every transcript, in file name order; empty when the directory is missing."""
    if not available():
        return ()
    return tuple(_load(path) for path in sorted(FIDELITY_DIR.glob("*.json")))


def transcript(name: str) -> Transcript:
    """One transcript by name or by its number prefix (``"03b"``)."""
    for candidate in load_all():
        if candidate.name == name or candidate.name.split("-", 1)[0] == name:
            return candidate
    raise KeyError(name)


def _load(path: Path) -> Transcript:
    data = orjson.loads(path.read_bytes())
    name = path.stem
    exchanges = tuple(_exchange(name, index, raw) for index, raw in enumerate(data["exchanges"]))
    extras = {k: v for k, v in data.items() if k not in ("case", "why", "exchanges")}
    return Transcript(name, data["case"], data["why"], exchanges, extras)


def _exchange(name: str, index: int, raw: dict[str, Any]) -> Exchange:
    request = raw["request"]
    response = raw["response"]
    known = {"status", "content_type", "body", "stream", "headers"}
    return Exchange(
        transcript=name,
        index=index,
        request=Request(
            method=request["method"],
            path=request["path"],
            query=request.get("query") or "",
            content_type=request.get("content_type"),
            body=request.get("body"),
            accept=request.get("accept") or "application/json",
        ),
        response=Response(
            status=response["status"],
            content_type=response.get("content_type") or "",
            body=response.get("body"),
            stream=response.get("stream"),
            headers=dict(response.get("headers") or {}),
            extras={k: v for k, v in response.items() if k not in known}
            | {k: v for k, v in raw.items() if k not in ("request", "response", "note")},
        ),
        note=raw.get("note") or "",
    )
