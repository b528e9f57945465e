"""Sending recorded requests to the simulator and judging its answers.

A :class:`Replayer` speaks raw HTTP (aiohttp) to one simulator, as the
recorder spoke to the real server: the same method, path, exact query string,
body bytes, ``Accept`` and ``Content-Type``, the admin's bearer token and the
recorder's User-Agent (the default field manager derives from it). Values the
real server handed out earlier in a transcript (resourceVersions, uids,
continue tokens) are translated to the simulator's own before sending; the
translation is learnt from every answer compared so far (see ``masking``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import orjson
from yarl import URL

from reconciler.simulator.simulator import Simulator
from .masking import decode_continue, differences, normalise
from .transcripts import Exchange, Request, Response

USER_AGENT: Final = "fidelity-recorder/1.0"
ADMIN: Final = "admin"
ANONYMOUS: Final = "anonymous"
BAD_TOKEN: Final = "bad-token"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    content_type: str
    warnings: tuple[str, ...]
    raw: bytes

    def json(self) -> Any:
        return orjson.loads(self.raw)

    def lines(self) -> list[Any]:
        return [orjson.loads(line) for line in self.raw.split(b"\n") if line.strip()]


@dataclass(slots=True)
class Bindings:
    """Recorded value -> simulated value, per category (``rv``, ``uid``, ``continue``, ``name``)."""

    values: dict[str, dict[str, str]] = field(default_factory=dict)

    def learn(self, recorded: Any, actual: Any) -> None:
        expected = normalise(recorded).captures
        seen = normalise(actual).captures
        for path, (category, raw) in expected.items():
            match = seen.get(path)
            if match is not None and match[0] == category:
                self.values.setdefault(category, {}).setdefault(raw, match[1])

    def bind(self, category: str, recorded: str, actual: str) -> None:
        self.values.setdefault(category, {})[recorded] = actual

    def lookup(self, category: str, recorded: str) -> str | None:
        return self.values.get(category, {}).get(recorded)

    def rewrite_query(self, query: str) -> str:
        if not query:
            return query
        parts = []
        for part in query.split("&"):
            name, sep, value = part.partition("=")
            if sep and name == "resourceVersion":
                value = self.lookup("rv", value) or value
            elif sep and name == "continue":
                value = self._continue(value)
            parts.append(f"{name}{sep}{value}")
        return "&".join(parts)

    def _continue(self, token: str) -> str:
        known = self.lookup("continue", token)
        if known is not None:
            return known
        content = decode_continue(token)
        if content is None or content["rv"] < 0:
            return token
        mapped = self.lookup("rv", str(content["rv"]))
        if mapped is None:
            return token
        content["rv"] = int(mapped)
        encoded = base64.urlsafe_b64encode(orjson.dumps(content)).decode()
        return encoded.rstrip("=")

    def rewrite_body(self, body: Any, *, key: str | None = None) -> Any:
        if isinstance(body, dict):
            if body.get("op") == "test" and str(body.get("path", "")).endswith("resourceVersion"):
                return {**body, "value": self.lookup("rv", str(body["value"])) or body["value"]}
            return {k: self.rewrite_body(v, key=k) for k, v in body.items()}
        if isinstance(body, list):
            return [self.rewrite_body(item, key=key) for item in body]
        if isinstance(body, str):
            if key == "resourceVersion":
                return self.lookup("rv", body) or body
            return self.lookup("uid", body) or body
        return body


@dataclass(frozen=True, slots=True)
class Verdict:
    """How one exchange went: the differences found (none means it matched)."""

    exchange: Exchange
    problems: tuple[str, ...]
    reply: Reply | None = None

    @property
    def matched(self) -> bool:
        return not self.problems


class Replayer:
    """Replays requests against one running simulator, translating what the server assigned."""

    def __init__(self, sim: Simulator, session: aiohttp.ClientSession) -> None:
        self.sim = sim
        self.session = session
        self.bindings = Bindings()

    async def send(
        self,
        request: Request,
        *,
        auth: str = ADMIN,
        query: str | None = None,
    ) -> Reply:
        """Send ``request`` (translated) and read the whole answer, streams included."""
        headers = {"Accept": request.accept, "User-Agent": USER_AGENT}
        if auth == ADMIN:
            headers["Authorization"] = f"Bearer {self.sim.token}"
        elif auth == BAD_TOKEN:
            headers["Authorization"] = "Bearer not-the-token"
        data: bytes | None = None
        if request.body is not None:
            body = self.bindings.rewrite_body(request.body)
            data = body.encode() if isinstance(body, str) else orjson.dumps(body)
        if request.content_type is not None:
            headers["Content-Type"] = request.content_type
        sent_query = self.bindings.rewrite_query(request.query if query is None else query)
        url = URL(self.sim.url + request.path + (f"?{sent_query}" if sent_query else ""), encoded=True)
        async with self.session.request(request.method, url, data=data, headers=headers) as answer:
            raw = await answer.read()
            return Reply(
                status=answer.status,
                content_type=answer.headers.get("Content-Type", ""),
                warnings=tuple(answer.headers.getall("Warning", [])),
                raw=raw,
            )

    def judge(self, exchange: Exchange, reply: Reply) -> Verdict:
        """Compare ``reply`` with the recorded response; learn the value correspondence."""
        expected = exchange.response
        problems = list(_status_problems(expected, reply))
        recorded_body, actual_body, body_problems = _bodies(expected, reply)
        problems.extend(body_problems)
        if recorded_body is not None and actual_body is not None:
            left, right = normalise(recorded_body), normalise(actual_body)
            problems.extend(differences(left.value, right.value))
            self.bindings.learn(recorded_body, actual_body)
        return Verdict(exchange, tuple(problems), reply)

    async def replay(
        self,
        exchange: Exchange,
        *,
        auth: str = ADMIN,
        query: str | None = None,
        until_matched: float = 0.0,
    ) -> Verdict:
        """Send one recorded request and judge the answer.

        With ``until_matched`` (seconds) a read is repeated after each change in
        the store until it matches or time is up: the answer depends on a
        controller that the recorder, too, waited for.
        """
        if until_matched <= 0:
            return self.judge(exchange, await self.send(exchange.request, auth=auth, query=query))
        feed = self.sim.store.subscribe()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until_matched
        try:
            while True:
                reply = await self.send(exchange.request, auth=auth, query=query)
                verdict = _trial(self, exchange, reply)
                remaining = deadline - loop.time()
                if verdict.matched or remaining <= 0:
                    return self.judge(exchange, reply)
                try:
                    await asyncio.wait_for(feed.get(), timeout=remaining)
                except TimeoutError:
                    return self.judge(exchange, reply)
                while not feed.queue.empty():
                    feed.queue.get_nowait()
        finally:
            feed.close()


def _trial(replayer: Replayer, exchange: Exchange, reply: Reply) -> Verdict:
    """Judge without learning bindings (a poll that may be repeated)."""
    saved = {k: dict(v) for k, v in replayer.bindings.values.items()}
    try:
        return replayer.judge(exchange, reply)
    finally:
        replayer.bindings.values = saved


def _status_problems(expected: Response, reply: Reply) -> Iterable[str]:
    if reply.status != expected.status:
        yield f"status {reply.status}, expected {expected.status}"
    if reply.content_type != expected.content_type:
        yield f"content type {reply.content_type!r}, expected {expected.content_type!r}"
    recorded_warning = expected.headers.get("Warning")
    actual_warning = ", ".join(reply.warnings) or None
    if recorded_warning != actual_warning:
        yield f"Warning header {actual_warning!r}, expected {recorded_warning!r}"


def _bodies(expected: Response, reply: Reply) -> tuple[Any, Any, list[str]]:
    """The recorded and actual bodies to compare as JSON, and any problem reading them."""
    if expected.stream is not None:
        try:
            lines = reply.lines()
        except orjson.JSONDecodeError as error:
            return None, None, [f"stream is not JSON lines: {error}"]
        return collapse_bookmarks(expected.stream), collapse_bookmarks(lines), []
    if isinstance(expected.body, str):
        text = reply.raw.decode("utf-8", errors="replace")
        if text != expected.body:
            return None, None, [f"body {text[:200]!r}, expected {expected.body[:200]!r}"]
        return None, None, []
    if expected.body is None:
        return None, None, [] if not reply.raw else [f"unexpected body {reply.raw[:200]!r}"]
    problems = []
    if not reply.raw.endswith(b"\n") or reply.raw.count(b"\n") != 1:
        problems.append("JSON body is not written compactly on one line ending with a newline")
    try:
        return expected.body, reply.json(), problems
    except orjson.JSONDecodeError:
        return None, None, [*problems, f"body is not JSON: {reply.raw[:200]!r}"]


def collapse_bookmarks(events: list[Any]) -> list[Any]:
    """Runs of BOOKMARK events as one: how many arrive depends on timing (README surprise 3)."""
    collapsed: list[Any] = []
    for event in events:
        is_bookmark = isinstance(event, dict) and event.get("type") == "BOOKMARK"
        previous = collapsed[-1] if collapsed else None
        if is_bookmark and isinstance(previous, dict) and previous.get("type") == "BOOKMARK":
            collapsed[-1] = event
            continue
        collapsed.append(event)
    return collapsed


Action = Callable[["Replayer"], Any]
