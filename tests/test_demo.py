"""The README's first command: ``headless-reconciler demo`` runs on its own and tells the story."""

from __future__ import annotations

import subprocess
import sys


def test_demo_repairs_the_drift_it_creates_and_exits_zero() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    out = finished.stdout
    assert "Repaired ServiceEntry shop/web-static" in out
    assert "Repaired WorkloadEntry shop/web-1" in out
    assert "ServiceEntry shop/legacy-static untouched: yes" in out
    assert "Traceback" not in finished.stderr


def test_help_lists_the_commands() -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "reconciler", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    for command in ("run", "demo", "simulate"):
        assert command in finished.stdout
