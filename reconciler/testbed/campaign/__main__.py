"""``python -m reconciler.testbed.campaign``: run schedules, print and save the summary.

Exit 0 when every schedule converged with no invariant violated, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path

from reconciler.testbed.campaign.runner import ScheduleResult, run_campaign


def _print(result: ScheduleResult) -> None:
    verdict = "ok" if result.passed else "FAILED"
    faults = sum(result.faults.values())
    print(
        f"seed {result.seed:5d}  {verdict:6s} faults {faults:2d} world {result.world_steps:2d}"
        f"  converged in {result.converge_seconds:6.2f}s  writes {result.writes:3d}"
        f"  ({result.seconds:.1f}s)",
        flush=True,
    )
    for line in result.violations + result.remaining:
        print(f"    {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconciler.testbed.campaign")
    parser.add_argument("--schedules", type=int, default=200)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--seed", type=int, action="append", help="run just these seeds")
    parser.add_argument("--json", type=Path, help="write the summary here")
    parser.add_argument("--log-level", default="CRITICAL")
    options = parser.parse_args(argv)
    logging.basicConfig(level=options.log_level.upper(), stream=sys.stderr)
    seeds = options.seed or range(options.first_seed, options.first_seed + options.schedules)
    summary = asyncio.run(run_campaign(seeds, on_result=_print))
    report = summary.as_json()
    print(json.dumps(report, indent=2))
    if options.json is not None:
        options.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if not summary.failed else 1


if __name__ == "__main__":
    sys.exit(main())
