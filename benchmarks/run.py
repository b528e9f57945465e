"""``python -m benchmarks``: every scenario, one JSON result, one Markdown table.

Full run (about five minutes here): threshold-scale world, 500 restarts, a
60-second quiet window, ingest streams of thousands of events, memory at 10k
and 100k endpoints, and a pyinstrument profile for each missed speed target.
``--smoke`` runs the same code at toy sizes in seconds (CI runs it so the
benchmarks cannot rot); its figures mean nothing.

Results go to ``benchmarks/results/latest.json`` and ``latest.md`` (or
``--out``), with the machine they were measured on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import machine, report
from benchmarks.ingest import FAST_TOOLS, SLOW_TOOLS, IngestSize, ingest, main_profile
from benchmarks.processes import Child, JsonObject
from benchmarks.scale import ScaleSettings, run_scale
from benchmarks.world import THRESHOLD, WorldSize

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("ingest", "scale", "memory")


@dataclass(frozen=True, slots=True)
class Plan:
    ingest_sizes: tuple[IngestSize, ...]
    ingest_repeats: int
    scale: ScaleSettings
    memory_endpoints: tuple[int, ...]
    memory_per_slice: tuple[int, ...]


FULL = Plan(
    ingest_sizes=(
        IngestSize(endpoints=100, objects=200, fast_events=4000, slow_events=800),
        IngestSize(endpoints=10, objects=500, fast_events=20000, slow_events=3000),
    ),
    ingest_repeats=3,
    scale=ScaleSettings(world=THRESHOLD, restarts=500, churn_per_second=100.0, quiet_seconds=60.0),
    memory_endpoints=(10_000, 100_000),
    memory_per_slice=(100, 10),
)

SMOKE = Plan(
    ingest_sizes=(IngestSize(endpoints=10, objects=5, fast_events=30, slow_events=10),),
    ingest_repeats=1,
    scale=ScaleSettings(
        world=WorldSize(
            services=20,
            endpoints=200,
            service_entries=20,
            workload_entries=5,
            paired=3,
            rolling_pods=5,
        ),
        restarts=3,
        churn_per_second=100.0,
        rolling_pod_start=0.01,
        quiet_seconds=0.2,
    ),
    memory_endpoints=(1000,),
    memory_per_slice=(10,),
)


async def memory(plan: Plan) -> JsonObject:
    runs = []
    for endpoints in plan.memory_endpoints:
        for per_slice in plan.memory_per_slice:
            for mode in ("tracemalloc", "rss"):
                child = await Child.spawn(
                    "benchmarks.memory", "--endpoints", str(endpoints),
                    "--per-slice", str(per_slice), "--measure", mode,
                )  # fmt: skip
                try:
                    runs.append(await child.wait_for(lambda e: "mode" in e, within=300.0))
                finally:
                    await child.finish()
    return {"runs": runs}


async def run(plan: Plan, *, scenarios: tuple[str, ...], profile: bool) -> JsonObject:
    result: JsonObject = {
        "machine": machine.describe(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    timings: dict[str, float] = {}
    if "ingest" in scenarios:
        started = time.monotonic()
        tools = (*FAST_TOOLS, *SLOW_TOOLS)
        result["ingest"] = [
            await ingest(size, repeats=plan.ingest_repeats, tools=tools)
            for size in plan.ingest_sizes
        ]
        timings["ingest"] = time.monotonic() - started
    if "memory" in scenarios:
        started = time.monotonic()
        result["memory"] = await memory(plan)
        timings["memory"] = time.monotonic() - started
    if "scale" in scenarios:
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as workdir:
            result["scale"] = await run_scale(plan.scale, workdir=Path(workdir))
        timings["scale"] = time.monotonic() - started
    result["targets"] = report.targets(result)
    if profile:
        result["profiles"] = profiles(result, plan)
    result["seconds"] = {name: round(value, 1) for name, value in timings.items()}
    return result


def profiles(result: JsonObject, plan: Plan) -> dict[str, str]:
    """A pyinstrument profile of the ingest step for each layout that missed a speed target."""
    texts: dict[str, str] = {}
    missed = {row["layout"] for row in result["targets"] if row["profile"] and row["met"] is False}
    for size in plan.ingest_sizes:
        if f"{size.endpoints} endpoints/slice" in missed:
            try:
                texts[f"ingest-{size.endpoints}"] = main_profile(size)
            except ImportError:
                texts[f"ingest-{size.endpoints}"] = "pyinstrument is not installed"
    return texts


def write(result: JsonObject, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    profile_texts: dict[str, str] = result.pop("profiles", {})
    if profile_texts:
        folder = out / "profiles"
        folder.mkdir(exist_ok=True)
        for name, text in profile_texts.items():
            (folder / f"{name}.txt").write_text(text)
        result["profile_files"] = sorted(f"profiles/{name}.txt" for name in profile_texts)
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "latest.md").write_text(report.markdown(result))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="toy sizes, seconds, no profiles")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the results")
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS, default=list(SCENARIOS), help="scenarios to run"
    )
    args = parser.parse_args(argv)
    plan = SMOKE if args.smoke else FULL
    result: dict[str, Any] = asyncio.run(
        run(plan, scenarios=tuple(args.only), profile=not args.smoke)
    )
    result["smoke"] = args.smoke
    write(result, args.out)
    print(report.markdown(result))
