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
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import aiohttp
import orjson
from multidict import CIMultiDict
from yarl import URL

from reconciler.simulator.simulator import Simulator

from .adaptations import Adaptation
from .masking import decode_continue, differences, layout, normalise
from .transcripts import Exchange, Request, Response

USER_AGENT: Final = "fidelity-recorder/1.0"
ADMIN: Final = "admin"
ANONYMOUS: Final = "anonymous"
BAD_TOKEN: Final = "bad-token"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    """Case-insensitive, the first value of each."""
    warnings: tuple[str, ...]
    """Every ``Warning`` header line."""
    raw: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def json(self) -> Any:
        return orjson.loads(self.raw)

    def lines(self) -> list[Any]:
        return [orjson.loads(line) for line in self.raw.split(b"\n") if line.strip()]


RV_CATEGORIES: Final = ("rv", "list-rv", "slice-rv", "ref-rv")


@dataclass(slots=True)
class Bindings:
    """Recorded value -> simulated value, per category (``rv``, ``uid``, ``continue``, ...)."""

    values: dict[str, dict[str, str]] = field(default_factory=dict)
    own: dict[str, dict[str, str]] = field(default_factory=dict)
    """The resourceVersions learnt from the transcript's own exchanges (checked for order)."""

    def learn(self, recorded: Any, actual: Any, *, own: bool) -> list[str]:
        """Pair the varying values; where resourceVersions break the recorded pattern, say so.

        Within a transcript the same recorded resourceVersion of an object must
        come back as the same simulated one (a no-op or dry-run write keeps it),
        two in some order must be simulated in that order, and a list snapshot's
        revision repeated (pages of one list) must repeat. Revisions that
        controllers or the recorder's unrecorded requests move (EndpointSlices,
        values quoted in Event references) are paired but not checked.
        """
        expected = normalise(recorded).captures
        seen = normalise(actual).captures
        problems: list[str] = []
        for path, (category, raw) in expected.items():
            match = seen.get(path)
            if match is None or match[0] != category:
                continue
            if own and category in ("rv", "list-rv"):
                checked = self.own.setdefault(category, {})
                problems.extend(
                    _rv_problems(path, raw, match[1], checked, ordered=category == "rv")
                )
                checked.setdefault(raw, match[1])
            self.values.setdefault(category, {}).setdefault(raw, match[1])
        return problems

    def lookup(self, category: str, recorded: str) -> str | None:
        return self.values.get(category, {}).get(recorded)

    def resource_version(self, recorded: str) -> str | None:
        for category in RV_CATEGORIES:
            found = self.lookup(category, recorded)
            if found is not None:
                return found
        return None

    def rewrite_query(self, query: str) -> str:
        if not query:
            return query
        parts = []
        for part in query.split("&"):
            name, sep, value = part.partition("=")
            if sep and name == "resourceVersion":
                value = self.resource_version(value) or value
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
        mapped = self.resource_version(str(content["rv"]))
        if mapped is None:
            return token
        content["rv"] = int(mapped)
        encoded = base64.urlsafe_b64encode(orjson.dumps(content)).decode()
        return encoded.rstrip("=")

    def rewrite_body(self, body: Any, *, key: str | None = None) -> Any:
        if isinstance(body, dict):
            if body.get("op") == "test" and str(body.get("path", "")).endswith("resourceVersion"):
                return {**body, "value": self.resource_version(str(body["value"])) or body["value"]}
            return {k: self.rewrite_body(v, key=k) for k, v in body.items()}
        if isinstance(body, list):
            return [self.rewrite_body(item, key=key) for item in body]
        if isinstance(body, str):
            if key == "resourceVersion":
                return self.resource_version(body) or body
            return self.lookup("uid", body) or self.lookup("ip", body) or body
        return body


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _rv_problems(
    path: Any, recorded: str, actual: str, known: dict[str, str], *, ordered: bool
) -> list[str]:
    where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    bound = known.get(recorded)
    if bound is not None:
        if bound != actual:
            return [f"{where}: resourceVersion {actual} where {recorded} repeats (was {bound})"]
        return []
    if not ordered:
        return []
    problems = []
    for other, other_actual in known.items():
        if _sign(int(recorded) - int(other)) != _sign(int(actual) - int(other_actual)):
            problems.append(
                f"{where}: resourceVersion {actual} vs {other_actual} is out of the recorded"
                f" order of {recorded} vs {other}"
            )
    return problems


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

    def __init__(
        self,
        sim: Simulator,
        session: aiohttp.ClientSession,
        *,
        adaptations: Mapping[int, Adaptation] | None = None,
    ) -> None:
        self.sim = sim
        self.session = session
        self.bindings = Bindings()
        self.adaptations = dict(adaptations or {})
        """By exchange index, for the transcript being replayed."""

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
        url = URL(
            self.sim.url + request.path + (f"?{sent_query}" if sent_query else ""), encoded=True
        )
        async with self.session.request(request.method, url, data=data, headers=headers) as answer:
            raw = await answer.read()
            return Reply(
                status=answer.status,
                headers=CIMultiDict(answer.headers),
                warnings=tuple(answer.headers.getall("Warning", [])),
                raw=raw,
            )

    def judge(
        self, exchange: Exchange, reply: Reply, *, adapted: bool = False, own: bool = True
    ) -> Verdict:
        """Compare ``reply`` with the recorded response; learn the value correspondence.

        ``own`` is False for another transcript's exchange replayed as setup.
        """
        expected = exchange.response
        problems = list(_status_problems(expected, reply))
        recorded_body, actual_body, body_problems = _bodies(exchange, reply)
        problems.extend(body_problems)
        if recorded_body is not None and actual_body is not None:
            problems.extend(self.bindings.learn(recorded_body, actual_body, own=own))
            adaptation = self.adaptations.get(exchange.index) if adapted else None
            if adaptation is not None and adaptation.narrow is not None:
                recorded_body, actual_body = adaptation.narrow(exchange, recorded_body, actual_body)
            left, right = normalise(recorded_body), normalise(actual_body)
            problems.extend(differences(left.value, right.value))
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
        adaptation = self.adaptations.get(exchange.index)
        request = exchange.request
        if adaptation is not None and adaptation.request is not None:
            request = adaptation.request(request)
        if until_matched <= 0:
            reply = await self.send(request, auth=auth, query=query)
            return self.judge(exchange, reply, adapted=True)
        feed = self.sim.store.subscribe()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until_matched
        try:
            while True:
                reply = await self.send(request, auth=auth, query=query)
                verdict = _trial(self, exchange, reply)
                remaining = deadline - loop.time()
                if verdict.matched or remaining <= 0:
                    return self.judge(exchange, reply, adapted=True)
                try:
                    await asyncio.wait_for(feed.get(), timeout=remaining)
                except TimeoutError:
                    return self.judge(exchange, reply, adapted=True)
                while not feed.queue.empty():
                    feed.queue.get_nowait()
        finally:
            feed.close()


def _trial(replayer: Replayer, exchange: Exchange, reply: Reply) -> Verdict:
    """Judge without learning bindings (a poll that may be repeated)."""
    bindings = replayer.bindings
    saved = (
        {k: dict(v) for k, v in bindings.values.items()},
        {k: dict(v) for k, v in bindings.own.items()},
    )
    try:
        return replayer.judge(exchange, reply, adapted=True)
    finally:
        bindings.values, bindings.own = saved


_TRANSPORT_HEADERS: Final = frozenset({"Transfer-Encoding", "Warning"})
"""Headers not compared as they are: chunking is a transport choice; Warning is split below."""


def _status_problems(expected: Response, reply: Reply) -> Iterable[str]:
    if reply.status != expected.status:
        yield f"status {reply.status}, expected {expected.status}"
    if reply.content_type != expected.content_type:
        yield f"content type {reply.content_type!r}, expected {expected.content_type!r}"
    for name, value in expected.headers.items():
        if name not in _TRANSPORT_HEADERS and reply.headers.get(name) != value:
            yield f"header {name}: {reply.headers.get(name)!r}, expected {value!r}"
    # The recorder's client comma-joined the Warning lines; the server sends one per warning.
    recorded_warning = expected.headers.get("Warning")
    actual_warning = ", ".join(reply.warnings) or None
    if recorded_warning != actual_warning:
        yield f"Warning header {actual_warning!r}, expected {recorded_warning!r}"
    elif recorded_warning is not None and recorded_warning.count('299 - "') != len(reply.warnings):
        yield f"{len(reply.warnings)} Warning lines, expected one per warning"


def _bodies(exchange: Exchange, reply: Reply) -> tuple[Any, Any, list[str]]:
    """The recorded and actual bodies to compare as JSON, and any problem reading them."""
    expected = exchange.response
    if expected.stream is not None:
        try:
            lines = reply.lines()
        except orjson.JSONDecodeError as error:
            return None, None, [f"stream is not JSON lines: {error}"]
        return canonical_events(expected.stream), canonical_events(lines), []
    if isinstance(expected.body, str):
        text = reply.raw.decode("utf-8", errors="replace")
        if text != expected.body:
            return None, None, [f"body {text[:200]!r}, expected {expected.body[:200]!r}"]
        return None, None, []
    if expected.body is None:
        return None, None, [] if not reply.raw else [f"unexpected body {reply.raw[:200]!r}"]
    problems = []
    head = expected.extras.get("raw_text_head")
    if head is not None:
        problems.extend(_layout_problems(head, reply.raw.decode()))
    elif not reply.raw.endswith(b"\n") or reply.raw.count(b"\n") != 1:
        problems.append("JSON body is not written compactly on one line ending with a newline")
    try:
        return expected.body, reply.json(), problems
    except orjson.JSONDecodeError:
        return None, None, [*problems, f"body is not JSON: {reply.raw[:200]!r}"]


def _layout_problems(recorded_head: str, text: str) -> list[str]:
    """Compare the indentation layout of a ``pretty`` body with the recorded beginning."""
    complete = recorded_head[: recorded_head.rfind("\n") + 1]
    expected, actual = layout(complete), layout(text)
    if not actual.startswith(expected):
        return [f"pretty layout begins {actual[:300]!r}, expected {expected[:300]!r}"]
    return []


def canonical_events(events: list[Any]) -> list[Any]:
    """A watch stream with the differences timing makes taken out.

    Runs of BOOKMARKs become one (how many arrive depends on timing, README
    surprise 3), and a run of same-type events on different EndpointSlices is
    sorted by Service (the controller syncs Services concurrently, so their
    slices are written in either order).
    """
    ordered: list[Any] = []
    for (is_slice, _), run in itertools.groupby(collapse_bookmarks(events), key=_run_key):
        events_of_run = list(run)
        ordered.extend(sorted(events_of_run, key=_slice_order) if is_slice else events_of_run)
    return ordered


def _run_key(event: Any) -> tuple[bool, Any]:
    """Events group into runs of the same type on EndpointSlices; others stand alone."""
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        return False, id(event)
    if event["object"].get("kind") != "EndpointSlice" or event.get("type") == "BOOKMARK":
        return False, id(event)
    return True, event.get("type")


def _slice_order(event: Any) -> tuple[str, str]:
    metadata = event["object"].get("metadata") or {}
    labels = metadata.get("labels") or {}
    return (str(labels.get("kubernetes.io/service-name", "")), str(metadata.get("generateName")))


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
