"""The README's first command: ``headless-reconciler demo`` runs on its own and tells the story."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest

from reconciler.config import DiffSettings
from reconciler.reporting.commands import ExitCode, run_diff

TIME_BUDGET = 30.0
"""Seconds the demo may take, start to exit (the issue's promise to a first-time user)."""


@dataclass(frozen=True)
class DemoRun:
    finished: subprocess.CompletedProcess[str]
    elapsed: float


@pytest.fixture(scope="module")
def demo_run() -> DemoRun:
    """One run of ``headless-reconciler demo`` as a user starts it, shared by the checks below."""
    started = time.monotonic()
    finished = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        capture_output=True,
        text=True,
        timeout=TIME_BUDGET,
        check=False,
    )
    return DemoRun(finished, time.monotonic() - started)


def test_demo_repairs_the_drift_it_creates_within_its_budget_and_exits_zero(
    demo_run: DemoRun,
) -> None:
    finished = demo_run.finished

    assert finished.returncode == 0, finished.stderr
    assert demo_run.elapsed < TIME_BUDGET
    out = finished.stdout
    for repaired in (
        "patched ServiceEntry shop/web-static: web-1: ",
        "patched WorkloadEntry shop/web-1: web-1: ",
        "patched ServiceEntry shop/web-static: web-3: added ",
        "patched ServiceEntry ledger/db-0: db-0: ",
    ):
        assert repaired in out
    assert "Every opted-in entry holds its pods' current IPs: yes" in out
    assert "untouched by the controller: yes" in out
    assert "recycled: " in out, "audit shows what happened to the hand-kept entry"
    assert "Traceback" not in finished.stderr


def test_the_final_table_lists_every_pod_with_the_entries_that_follow_it(
    demo_run: DemoRun,
) -> None:
    table = demo_run.finished.stdout.split("Final state, read back from the API server:\n")[1]
    rows = table.split("Every opted-in entry")[0].splitlines()
    assert rows[0].split() == ["POD", "POD", "IP", "ENTRY", "ENTRY", "HOLDS"]
    pods = [row.split()[0] for row in rows[1:] if not row.startswith(" " * 8)]
    assert pods == [
        "shop/web-0",
        "shop/web-1",
        "shop/web-2",
        "shop/web-3",
        "ledger/db-0",
        "ledger/db-1",
    ]


async def test_keep_running_leaves_a_cluster_to_point_diff_at_until_interrupted() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reconciler",
        "demo",
        "--keep-running",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        kubeconfig = await asyncio.wait_for(_kubeconfig_line(process), TIME_BUDGET)
        out, err = StringIO(), StringIO()
        code = await run_diff(DiffSettings(kubeconfig=kubeconfig), out=out, err=err)
        assert (code, err.getvalue()) == (ExitCode.CLEAN, ""), out.getvalue()
        clean = "No changes (3 ServiceEntries, 1 WorkloadEntry, 2 Services checked)"
        assert clean in out.getvalue()

        process.send_signal(signal.SIGINT)
        returncode = await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert returncode == 0
    assert not kubeconfig.exists(), "the demo cleans up its kubeconfig"


async def _kubeconfig_line(process: asyncio.subprocess.Process) -> Path:
    assert process.stdout is not None
    while line := (await process.stdout.readline()).decode():
        if line.startswith("kubeconfig: "):
            return Path(line.removeprefix("kubeconfig: ").strip())
    raise AssertionError("the demo ended without printing a kubeconfig path")


def _normalised(text: str) -> list[str]:
    """Lines without what varies between runs; sorted, since the order of patches that land
    within the same milliseconds varies too.

    Timing also decides how a restart's two changes (the pod gone, the pod back) fall into
    reconciles: one patch or two, with or without a moment held by the mass-removal guard.
    So the timed report lines and the write counts may differ between two honest runs; the
    story, the final state and the audit may not.
    """
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)
    text = re.sub(r"\b\d+ ms\b", "N ms", text)
    text = re.sub(r"Done in [\d.]+s", "Done in Ns", text)
    lines = (line.rstrip() for line in text.splitlines() if line.strip())
    timed = re.compile(r"\s+N ms\s|Controller writes: ")
    return sorted(line for line in lines if not timed.match(line))


def test_the_readme_shows_the_demo_as_it_really_runs(demo_run: DemoRun) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    command = readme.split("<!-- demo-command -->", 1)[1].split("<!-- /demo-command -->", 1)[0]
    shown = readme.split("What the demo prints:", 1)[1].split("```", 2)[1]

    assert "headless-reconciler demo" in command
    assert _normalised(shown) == _normalised(demo_run.finished.stdout)
