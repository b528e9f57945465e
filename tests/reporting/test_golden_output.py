"""Golden files: the text and JSON of ``diff`` and ``audit`` are user-facing API.

Each report is rendered from a fixed world (``golden_world``, ``audit_world``)
and compared byte for byte with ``tests/reporting/golden/``. A difference
fails the test; when the change is deliberate, regenerate the files with
``HEADLESS_RECONCILER_UPDATE_GOLDEN=1 pytest tests/reporting`` and review
the diff like any other interface change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.planning.settings import PlanningSettings
from reconciler.reporting.audit import AuditReport, audit
from reconciler.reporting.diff import DiffReport, diff_view
from reconciler.reporting.rendering import audit_json, audit_text, diff_json, diff_text
from reconciler.reporting.scope import Scope

from .audit_world import audit_world
from .golden_world import golden_world
from .world import NOW_TIMESTAMP

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("HEADLESS_RECONCILER_UPDATE_GOLDEN") == "1"


def golden_diff() -> DiffReport:
    world = golden_world()
    return diff_view(
        world.cache(),
        world.keys(),
        settings=PlanningSettings(),
        now_timestamp=NOW_TIMESTAMP,
        scope=Scope(),
    )


def golden_audit() -> AuditReport:
    cache = audit_world().cache()
    return audit(
        service_entries=cache.service_entries,
        workload_entries=cache.workload_entries,
        slices=cache.endpoint_slices,
        view=cache,
        settings=PlanningSettings(),
        scope=Scope(namespaces=("ledger", "shop")),
    )


def assert_golden(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing: run with HEADLESS_RECONCILER_UPDATE_GOLDEN=1"
    assert rendered == path.read_text(), f"{name} differs from its golden file"


@pytest.mark.parametrize(
    ("name", "render"),
    [
        ("diff.txt", lambda: diff_text(golden_diff())),
        ("diff-colour.txt", lambda: diff_text(golden_diff(), colour=True)),
        ("diff.json", lambda: diff_json(golden_diff())),
        ("audit.txt", lambda: audit_text(golden_audit())),
        ("audit.json", lambda: audit_json(golden_audit())),
    ],
)
def test_output_matches_its_golden_file(name: str, render: object) -> None:
    assert callable(render)
    assert_golden(name, render())


def test_rendering_the_same_world_twice_gives_the_same_bytes() -> None:
    assert diff_json(golden_diff()) == diff_json(golden_diff())
    assert audit_text(golden_audit()) == audit_text(golden_audit())
