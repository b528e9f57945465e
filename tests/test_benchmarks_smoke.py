"""The benchmarks run end to end at toy size and write every result field (issue 8).

Nothing here is about speed: the figures of a smoke run mean nothing. What
must hold is that ``python -m benchmarks --smoke`` still runs every scenario
against the current code and writes the JSON and Markdown the full run
writes, so the benchmarks cannot rot between full runs. kopf and pyinstrument
are optional (the ``bench`` extra); without kopf its row reports why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
TOOLS = ("project", "project-watch", "kubernetes-asyncio", "kopf", "orjson")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("benchmarks")
    paths = filter(None, [str(REPO), os.environ.get("PYTHONPATH")])
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out)],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-4000:]
    return json.loads((out / "latest.json").read_text()), (out / "latest.md").read_text()


def test_every_ingest_consumer_reports_a_rate_or_why_not(smoke: tuple[dict[str, Any], str]) -> None:
    result, _ = smoke
    for layout in result["ingest"]:
        for tool in TOOLS:
            measured = layout["tools"][tool]
            assert measured.get("events_per_second") or measured.get("error"), (tool, measured)
        assert layout["tools"]["project"]["events_per_second"] > 0
        assert layout["in_memory"]["project_ingest_step_per_second"] > 0


def test_the_scale_scenarios_report_cold_start_convergence_and_steady_state(
    smoke: tuple[dict[str, Any], str],
) -> None:
    scale = smoke[0]["scale"]
    assert scale["cold_start"]["to_first_full_plan_s"] > 0
    assert scale["cold_start"]["peak_rss_mib"] > 0
    assert scale["diff"]["exit_code"] == 0, "the seeded world starts converged"
    assert scale["convergence"]["event_to_patch_acknowledged"]["count"] > 0
    assert scale["rolling_restart"]["patches_to_service_entry"] > 0
    assert scale["steady_state"]["writes"] == 0
    assert scale["steady_state"]["resync"]["keys"] > 0


def test_memory_is_measured_both_ways(smoke: tuple[dict[str, Any], str]) -> None:
    modes = {run["mode"] for run in smoke[0]["memory"]["runs"]}
    assert modes == {"rss", "tracemalloc"}


def test_every_target_is_judged_and_rendered(smoke: tuple[dict[str, Any], str]) -> None:
    result, markdown = smoke
    targets = {row["target"] for row in result["targets"]}
    assert any(target.startswith("ingest (a) >= 25x") for target in targets)
    assert any(target.startswith("cold start (diff)") for target in targets)
    assert any(target.startswith("convergence p99") for target in targets)
    assert any(target.startswith("rolling restart") for target in targets)
    assert any(target.startswith("< 400 B") for target in targets)
    assert "## Targets" in markdown
    assert result["machine"]["cores_usable"] > 0
