"""The shipped alert rules and dashboard: generated, complete, documented, and tested by promtool.

promtool comes with Debian's ``prometheus`` package, which CI installs
(``.ci/run``); where it is missing, the tests that need it are skipped and
say how to install it, unless ``PROMTOOL_REQUIRED`` is set (as CI sets it):
then they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "deploy" / "alerts" / "alerts.yaml"
RULES_FILE = ROOT / "deploy" / "prometheus" / "alerts.yaml"
PROMETHEUS_RULE = ROOT / "deploy" / "kustomize" / "base" / "prometheusrule.yaml"
PROMTOOL_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "alerts_test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "headless-reconciler.json"
OPERATIONS = ROOT / "docs" / "operations.md"

SPEC_ALERTS = {
    "HeadlessReconcilerDriftPersisting",
    "HeadlessReconcilerAbsent",
    "HeadlessReconcilerNoLeader",
    "HeadlessReconcilerWriteErrors",
    "HeadlessReconcilerWatchStalled",
    "HeadlessReconcilerPairedServiceConflict",
}
"""SPEC section 6: drift persisting, controller absent, no leader, write errors sustained,
watch stalled, paired-Service conflict."""

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None and not os.environ.get("PROMTOOL_REQUIRED"),
    reason="promtool is not installed: apt-get install --no-install-recommends prometheus",
)


def rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(RULES_FILE.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, "PROMTOOL_REQUIRED is set but promtool is not installed"
    return subprocess.run(
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )


def github_anchor(heading: str) -> str:
    """The id GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize(
    "generator",
    ["deploy/alerts/generate.py", "deploy/grafana/generate.py"],
    ids=["rules", "dashboard"],
)
def test_generated_files_are_up_to_date(generator: str) -> None:
    checked = subprocess.run(
        [sys.executable, str(ROOT / generator), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr


def test_the_prometheus_rule_object_holds_exactly_the_rules_file_groups() -> None:
    rule_object = yaml.safe_load(PROMETHEUS_RULE.read_text())

    assert rule_object["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule_object["kind"] == "PrometheusRule"
    assert rule_object["spec"]["groups"] == yaml.safe_load(RULES_FILE.read_text())["groups"]


def test_every_alert_the_spec_asks_for_is_shipped() -> None:
    assert {rule["alert"] for rule in rules()} == SPEC_ALERTS


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_a_summary_a_remedy_a_severity_and_a_runbook_section(
    rule: dict[str, Any],
) -> None:
    annotations = rule["annotations"]
    headings = [
        github_anchor(line.lstrip("#"))
        for line in OPERATIONS.read_text().splitlines()
        if line.startswith("#")
    ]

    assert rule["labels"]["severity"] in {"warning", "critical"}
    assert annotations["summary"]
    assert "Remedy:" in annotations["description"]
    page, _, anchor = annotations["runbook_url"].partition("#")
    assert page.endswith("/docs/operations.md")
    assert anchor in headings, f"docs/operations.md has no section #{anchor}"


def test_every_alert_has_promtool_tests_that_fire_it_and_that_do_not() -> None:
    tests = yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
    checks = [check for test in tests for check in test["alert_rule_test"]]

    firing = {check["alertname"] for check in checks if check["exp_alerts"]}
    silent = {check["alertname"] for check in checks if not check["exp_alerts"]}

    assert firing == SPEC_ALERTS
    assert silent == SPEC_ALERTS


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", RULES_FILE)

    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_the_promtool_unit_tests_pass() -> None:
    tested = promtool("test", "rules", PROMTOOL_TESTS)

    assert tested.returncode == 0, tested.stdout + tested.stderr


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    dashboard = yaml.safe_load(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]
    as_rules = tmp_path / "dashboard-queries.yaml"
    as_rules.write_text(
        yaml.safe_dump(
            {
                "groups": [
                    {
                        "name": "dashboard",
                        "rules": [
                            {"record": f"dashboard:query_{index}", "expr": query}
                            for index, query in enumerate(queries)
                        ],
                    }
                ]
            }
        )
    )

    checked = promtool("check", "rules", as_rules)

    assert queries
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_selects_the_job_variable() -> None:
    dashboard = yaml.safe_load(DASHBOARD.read_text())
    queries = [
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    ]

    assert all('job=~"$job"' in query for query in queries)
