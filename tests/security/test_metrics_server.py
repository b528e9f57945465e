"""The metrics and health port exposes three paths and survives whatever a client sends.

``--metrics-address`` listens on every interface by default, so anything that
reaches the pod can talk to it: scanners, broken clients, slow clients. These
tests speak raw bytes over a socket where an HTTP client library would refuse
or repair the request, and after every case ask ``/healthz`` again: the
server must still answer, and answer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from reconciler.health import Health
from reconciler.metrics import Metrics
from reconciler.serving import SERVER_NAME, Served, serving

ANSWER_WITHIN = 5.0
"""Seconds any answer may take; the server answers a well-formed probe in milliseconds."""
SERVED_PATHS = ("/metrics", "/healthz", "/readyz")
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")


@dataclass(frozen=True)
class Answer:
    status: int | None
    """None when the server closed the connection without a status line."""
    headers: dict[str, str]
    body: bytes


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    matched = STATUS_LINE.match(status_line + b" ")
    headers = {}
    for line in header_lines:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return Answer(int(matched.group(1)) if matched else None, headers, body)


def request(method: str, path: str, *headers: str, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: controller", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def exchange(served: Served, data: bytes, *, half_close: bool = False) -> Answer:
    """Send ``data`` (then stop sending, if ``half_close``) and read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        try:
            writer.write(data)
            await writer.drain()
            if half_close:
                writer.write_eof()
        except ConnectionError:
            pass  # the server gave up on a request mid-way; what it answered is still readable
        try:
            raw = await asyncio.wait_for(reader.read(), ANSWER_WITHIN)
        except ConnectionResetError:
            raw = b""
    finally:
        writer.close()
        await _closed(writer)
    return parse(raw)


async def _closed(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def assert_healthy(served: Served) -> None:
    answer = await exchange(served, request("GET", "/healthz"))
    assert (answer.status, answer.body) == (200, b"ok\n")


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    health = Health()
    health.add_liveness("watches", lambda: None)
    health.add_readiness("caches-synced", lambda: None)
    async with serving(
        "127.0.0.1:0", registry=Metrics(mode="write").registry, health=health
    ) as endpoint:
        yield endpoint


# -- what is exposed -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", SERVED_PATHS)
async def test_the_three_paths_answer_get_and_head(served: Served, path: str) -> None:
    got = await exchange(served, request("GET", path))
    head = await exchange(served, request("HEAD", path))

    assert got.status == 200
    assert got.body
    assert head.status == 200
    assert head.body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/index.html",
        "/debug/pprof/",
        "/debug/vars",
        "/metrics/",
        "/healthz/verbose",
        "/readyz/caches-synced",
        "/livez",
        "/static/",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "//metrics",
        "/.git/config",
        "/favicon.ico",
    ],
)
async def test_every_other_path_is_404_without_a_listing(served: Served, path: str) -> None:
    answer = await exchange(served, request("GET", path))

    assert answer.status == 404
    assert answer.body == b"404: Not Found"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
@pytest.mark.parametrize("path", SERVED_PATHS)
async def test_every_other_method_is_405(served: Served, method: str, path: str) -> None:
    answer = await exchange(served, request(method, path, "Content-Length: 0"))

    assert answer.status == 405
    assert answer.headers["allow"] == "GET,HEAD"


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/healthz"), ("GET", "/nowhere"), ("POST", "/metrics")]
)
async def test_answers_name_the_server_but_no_library_or_version(
    served: Served, method: str, path: str
) -> None:
    answer = await exchange(served, request(method, path, "Content-Length: 0"))

    assert answer.headers["server"] == SERVER_NAME
    everything = " ".join(f"{name}: {value}" for name, value in answer.headers.items())
    assert not re.search(r"aiohttp|python|\d+\.\d+\.\d+", everything, re.IGNORECASE), everything


# -- malformed requests --------------------------------------------------------------------------


MALFORMED = {
    "garbage bytes": b"\x00\xff\xfe\x16\x03\x01 not http at all\r\n\r\n",
    "TLS client hello": bytes.fromhex("160301020001000200030300") + b"\x00" * 64,
    "request line without version": b"GET /healthz\r\n\r\n",
    "header of 1 MB": request("GET", "/healthz", "X-Big: " + "a" * (1 << 20)),
    "10,000 headers": request("GET", "/healthz", *(f"X-H{n}: v" for n in range(10_000))),
    "URL of 100 kB": request("GET", "/healthz?" + "q" * 100_000),
    "header without a colon": request("GET", "/healthz", "no colon here"),
    "invalid Content-Length": request("GET", "/healthz", "Content-Length: abc"),
    "negative Content-Length": request("GET", "/healthz", "Content-Length: -5"),
    "two different Content-Lengths": request(
        "POST", "/metrics", "Content-Length: 3", "Content-Length: 5", body=b"abcde"
    ),
    "Content-Length with Transfer-Encoding": request(
        "POST",
        "/metrics",
        "Content-Length: 4",
        "Transfer-Encoding: chunked",
        body=b"0\r\n\r\nGET /debug HTTP/1.1\r\n\r\n",
    ),
    "invalid chunk size": request(
        "GET", "/healthz", "Transfer-Encoding: chunked", body=b"zz\r\nhello\r\n0\r\n\r\n"
    ),
    "asterisk target on a GET": request("GET", "*"),
    "NUL in the path": b"GET /heal\x00thz HTTP/1.1\r\nHost: x\r\n\r\n",
    "unknown HTTP version": b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_request_gets_400_or_a_closed_connection_and_the_server_lives_on(
    served: Served, data: bytes
) -> None:
    answer = await exchange(served, data)

    assert answer.status in (400, 505, None), answer
    assert b"Traceback" not in answer.body
    await assert_healthy(served)


async def test_a_truncated_request_line_is_dropped_when_the_client_stops_sending(
    served: Served,
) -> None:
    answer = await exchange(served, b"GET /heal", half_close=True)

    assert answer.status is None
    await assert_healthy(served)


async def test_a_truncated_request_line_left_open_does_not_hold_up_others(
    served: Served,
) -> None:
    _, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        writer.write(b"GET /heal")
        await writer.drain()
        await assert_healthy(served)
    finally:
        writer.close()
        await _closed(writer)


@pytest.mark.parametrize(
    "data",
    [
        request("GET", "/healthz", "Content-Length: 5", body=b"hello"),
        request("GET", "/metrics", "Content-Length: 7", body=b"ignored"),
    ],
    ids=["probe", "metrics"],
)
async def test_a_body_on_a_get_is_ignored(served: Served, data: bytes) -> None:
    answer = await exchange(served, data)

    assert answer.status == 200
    await assert_healthy(served)


# -- slow and many clients -----------------------------------------------------------------------


async def test_a_client_sending_one_byte_at_a_time_does_not_hold_up_others(
    served: Served,
) -> None:
    slow_request = request("GET", "/readyz")
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    try:
        for index in range(len(slow_request)):
            writer.write(slow_request[index : index + 1])
            await writer.drain()
            if index % 16 == 0:
                await assert_healthy(served)
        slow_answer = parse(await asyncio.wait_for(reader.read(), ANSWER_WITHIN))
    finally:
        writer.close()
        await _closed(writer)

    assert slow_answer.status == 200


async def test_a_request_left_unfinished_is_closed_after_the_idle_timeout() -> None:
    idle_timeout = 0.3
    health = Health()
    health.add_liveness("watches", lambda: None)
    async with serving(
        "127.0.0.1:0",
        registry=CollectorRegistry(),
        health=health,
        idle_timeout=idle_timeout,
    ) as endpoint:
        reader, writer = await asyncio.open_connection("127.0.0.1", endpoint.port)
        loop = asyncio.get_running_loop()
        opened_at = loop.time()
        try:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            await writer.drain()
            leftover = await asyncio.wait_for(reader.read(), ANSWER_WITHIN)
            closed_after = loop.time() - opened_at
        finally:
            writer.close()
            await _closed(writer)
        await assert_healthy(endpoint)

    assert leftover == b""
    assert idle_timeout - 0.05 <= closed_after < ANSWER_WITHIN


async def test_hundreds_of_connections_at_once_are_all_answered(served: Served) -> None:
    idle = [await asyncio.open_connection("127.0.0.1", served.port) for _ in range(200)]
    try:
        for _, writer in idle:
            writer.write(b"GET /readyz HTTP/1.1\r\n")
        answers = await asyncio.gather(
            *(exchange(served, request("GET", path)) for path in SERVED_PATHS * 100)
        )
        await assert_healthy(served)
    finally:
        for _, writer in idle:
            writer.close()
        await asyncio.gather(*(_closed(writer) for _, writer in idle))

    assert {answer.status for answer in answers} == {200}


# -- what the log says ---------------------------------------------------------------------------


async def test_a_malformed_request_is_one_debug_line_without_a_traceback(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        await exchange(served, MALFORMED["invalid Content-Length"])
        await exchange(served, MALFORMED["10,000 headers"])
        await assert_healthy(served)
    at_info = list(caplog.records)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="reconciler.serving"):
        await exchange(served, MALFORMED["invalid Content-Length"])
        await assert_healthy(served)

    assert at_info == []
    (record,) = [r for r in caplog.records if r.name == "reconciler.serving"]
    assert record.levelno == logging.DEBUG
    assert record.exc_info is None
    assert record.getMessage().startswith("malformed request from 127.0.0.1: ")
    assert "\n" not in record.getMessage()


class _Broken(Collector):
    def collect(self) -> Iterator[Metric]:
        raise RuntimeError("a collector failed")


async def test_a_failing_handler_is_still_logged_as_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    registry.register(_Broken())
    health = Health()
    health.add_liveness("watches", lambda: None)
    with caplog.at_level(logging.INFO):
        async with serving("127.0.0.1:0", registry=registry, health=health) as endpoint:
            answer = await exchange(endpoint, request("GET", "/metrics"))
            await assert_healthy(endpoint)

    assert answer.status == 500
    assert b"a collector failed" not in answer.body
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
