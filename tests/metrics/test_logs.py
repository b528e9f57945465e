"""Structured logs: JSON in a pod, text on a terminal, every reconcile line with key and id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from reconciler import logs
from reconciler.runtime.queue import Work, WorkQueue

LOGGER = logging.getLogger("reconciler.tests.logs")


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def reconcile_each(*keys: str) -> None:
    """Each key runs once through a real work queue, logging one line from inside the run."""
    queue: WorkQueue[str] = WorkQueue()
    done = asyncio.Event()
    seen: list[str] = []

    async def reconcile(work: Work[str]) -> None:
        LOGGER.info("planned %d changes", 2)
        seen.append(work.key)
        if len(seen) == len(keys):
            done.set()

    for key in keys:
        queue.add(key)
    running = asyncio.create_task(queue.run(reconcile))
    await asyncio.wait_for(done.wait(), 5)
    await queue.shutdown()
    await running


@pytest.mark.usefixtures("restore_root_logger")
async def test_json_lines_of_a_reconcile_carry_its_key_and_a_reconcile_id_of_its_own() -> None:
    stream = io.StringIO()
    logs.configure(log_format="json", level="info", stream=stream)

    await reconcile_each("ServiceEntry/shop/web", "ServiceEntry/shop/db")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["key"] for line in lines] == ["ServiceEntry/shop/web", "ServiceEntry/shop/db"]
    assert all(line["message"] == "planned 2 changes" for line in lines)
    assert all(line["level"] == "info" and line["time"] for line in lines)
    first, second = (line["reconcile_id"] for line in lines)
    assert first
    assert second
    assert first != second


@pytest.mark.usefixtures("restore_root_logger")
async def test_text_lines_end_with_the_key_and_the_reconcile_id() -> None:
    stream = io.StringIO()
    logs.configure(log_format="text", level="info", stream=stream)

    await reconcile_each("WorkloadEntry/shop/web-1")

    (line,) = stream.getvalue().splitlines()
    assert "INFO    planned 2 changes  key=WorkloadEntry/shop/web-1 reconcile_id=" in line


@pytest.mark.usefixtures("restore_root_logger")
def test_text_leaves_the_key_out_when_the_message_names_it() -> None:
    stream = io.StringIO()
    logs.configure(log_format="text", level="info", stream=stream)

    LOGGER.info("updated ServiceEntry/shop/web", extra={"key": "ServiceEntry/shop/web"})

    assert stream.getvalue().rstrip().endswith("INFO    updated ServiceEntry/shop/web")


@pytest.mark.usefixtures("restore_root_logger")
def test_lines_outside_a_reconcile_carry_no_key() -> None:
    stream = io.StringIO()
    logs.configure(log_format="json", level="info", stream=stream)

    LOGGER.info("caches synced")

    assert "key" not in json.loads(stream.getvalue())


@pytest.mark.usefixtures("restore_root_logger")
def test_the_log_level_drops_lines_below_it() -> None:
    stream = io.StringIO()
    logs.configure(log_format="text", level="warning", stream=stream)

    LOGGER.info("routine")
    LOGGER.warning("worth reading")

    assert "routine" not in stream.getvalue()
    assert "worth reading" in stream.getvalue()


@pytest.mark.parametrize(
    ("in_pod", "chosen"),
    [pytest.param(True, "json", id="pod"), pytest.param(False, "text", id="terminal")],
)
def test_auto_is_json_in_a_pod_and_text_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, in_pod: bool, chosen: str
) -> None:
    if in_pod:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    else:
        monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    assert logs.chosen_format("auto") == chosen
    assert logs.chosen_format("text") == "text"
