"""Write the Grafana dashboard ``deploy/grafana/headless-reconciler.json`` from this description.

The dashboard is data built here rather than JSON edited by hand: panel ids
and the grid are computed, every query selects ``job=~"$job"``, and the tests
check that each metric a query names is one the controller exports.

Rows, top to bottom: drift (is every entry on the live pod IPs, and since
when not), convergence (how fast a pod restart is repaired, what the writes
came to), watches and the API (are the caches current), process (leader,
conflicts, memory and CPU).

Usage: ``python deploy/grafana/generate.py`` writes the file; ``--check``
writes nothing and exits 1 when the file differs from what it would write.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARD = Path(__file__).resolve().parent / "headless-reconciler.json"
UID = "headless-reconciler"
WIDTH = 24
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
JOB = 'job=~"$job"'
NAMESPACE = 'namespace=~"$namespace"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    unit: str = "short"
    width: int = 12
    height: int = 8
    right_axis: tuple[str, str] | None = None
    """Series (a legend regex) drawn against a right axis, and that axis's unit."""


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def stat(title: str, description: str, expr: str, *, unit: str = "short") -> Panel:
    return Panel(title, description, (Query(expr),), kind="stat", unit=unit, width=6, height=4)


def quantiles(metric: str, by: str = "") -> tuple[Query, ...]:
    group = f"le{', ' + by if by else ''}"
    legend = f"{{{{{by}}}}} " if by else ""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{JOB}}}[5m])))",
            f"{legend}p{round(q * 100)}",
        )
        for q in (0.5, 0.9, 0.99)
    )


ROWS = (
    Row(
        "Drift",
        (
            stat(
                "Objects with drift",
                "Managed objects whose latest plan differs from the live pods.",
                f"max(sum by (instance) (headless_reconciler_drift_objects{{{JOB}, {NAMESPACE}}}))",
            ),
            stat(
                "Oldest drift",
                "Age of the oldest drift still standing (alert after 10 minutes).",
                f"max(headless_reconciler_oldest_drift_seconds{{{JOB}}})",
                unit="s",
            ),
            stat(
                "Leader",
                "Replicas that may write: 1 in a healthy install, 0 when observe-only.",
                f"sum(headless_reconciler_leader{{{JOB}}})",
            ),
            stat(
                "Unmanaged stale addresses",
                "Stale or recycled addresses in entries nothing repairs (see `audit`).",
                f"max(sum by (instance) (headless_reconciler_unmanaged_stale_addresses"
                f"{{{JOB}, {NAMESPACE}}}))",
            ),
            Panel(
                "Objects with drift by kind and namespace",
                "From the plans, so exact after restarts and in --dry-run.",
                (
                    Query(
                        f"max by (kind, namespace) "
                        f"(headless_reconciler_drift_objects{{{JOB}, {NAMESPACE}}})",
                        "{{kind}} {{namespace}}",
                    ),
                ),
            ),
            Panel(
                "Endpoints with drift by reason",
                "stale: the pod has another address; missing: a ready pod is not listed; "
                "extra: an endpoint no ready pod accounts for.",
                (
                    Query(
                        f"max by (kind, reason) (headless_reconciler_drift_endpoints{{{JOB}}})",
                        "{{kind}} {{reason}}",
                    ),
                ),
            ),
            Panel(
                "Oldest drift by kind",
                "Seconds the oldest drift of each kind has stood.",
                (
                    Query(
                        f"max by (kind) (headless_reconciler_oldest_drift_seconds{{{JOB}}})",
                        "{{kind}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                "Unmanaged stale addresses by namespace",
                "Entries not opted in (or refused) that hold wrong addresses.",
                (
                    Query(
                        f"max by (kind, namespace) (headless_reconciler_unmanaged_stale_addresses"
                        f"{{{JOB}, {NAMESPACE}}})",
                        "{{kind}} {{namespace}}",
                    ),
                ),
            ),
        ),
    ),
    Row(
        "Convergence",
        (
            Panel(
                "Watch event to write acknowledged",
                "From reading the pod's EndpointSlice change to the API acknowledging the fix.",
                quantiles("headless_reconciler_event_to_write_seconds"),
                unit="s",
            ),
            Panel(
                "Reconcile duration",
                "From planning a key to its outcome.",
                quantiles("headless_reconciler_reconcile_duration_seconds", "kind"),
                unit="s",
            ),
            Panel(
                "Reconciles by result",
                "What each reconcile came to; noop is the steady state and is left out.",
                (
                    Query(
                        f"sum by (kind, result) (rate(headless_reconciler_reconcile_total"
                        f'{{{JOB}, result!="noop"}}[5m]))',
                        "{{kind}} {{result}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Work queue",
                "Keys ready to run, waiting out a backoff or requeue, and running.",
                (Query(f"sum by (state) (headless_reconciler_queue_keys{{{JOB}}})", "{{state}}"),),
            ),
        ),
    ),
    Row(
        "Watches and API",
        (
            Panel(
                "Watch events by resource",
                "Watch lines received per second (bookmarks included).",
                (
                    Query(
                        f"sum by (resource, type) "
                        f"(rate(headless_reconciler_watch_events_total{{{JOB}}}[5m]))",
                        "{{resource}} {{type}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                "Seconds since watch progress",
                "A healthy watch makes progress at least every 6 minutes (alert after 15).",
                (
                    Query(
                        f"time() - headless_reconciler_watch_progress_timestamp_seconds{{{JOB}}}",
                        "{{instance}} {{resource}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                "Watch restarts by reason",
                "closed is the normal rhythm; expired means a relist; transient and error "
                "mean trouble.",
                (
                    Query(
                        f"sum by (resource, reason) "
                        f"(increase(headless_reconciler_watch_restarts_total{{{JOB}}}[15m]))",
                        "{{resource}} {{reason}}",
                    ),
                ),
            ),
            Panel(
                "API requests by verb and code",
                "Requests per second to the API server ('<error>': no answer).",
                (
                    Query(
                        f"sum by (verb, code) "
                        f"(rate(headless_reconciler_api_requests_total{{{JOB}}}[5m]))",
                        "{{verb}} {{code}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                "Cached objects by resource",
                "Objects held in memory by each replica.",
                (
                    Query(
                        f"max by (resource) (headless_reconciler_cache_objects{{{JOB}}})",
                        "{{resource}}",
                    ),
                ),
                width=24,
            ),
        ),
    ),
    Row(
        "Process",
        (
            Panel(
                "Leader by replica",
                "1 for the replica that writes.",
                (
                    Query(
                        f"max by (instance) (headless_reconciler_leader{{{JOB}}})",
                        "{{instance}}",
                    ),
                ),
                width=8,
            ),
            Panel(
                "Paired-Service conflicts",
                "Paired Services blocked by a Service the controller does not own.",
                (
                    Query(
                        f"max by (namespace) "
                        f"(headless_reconciler_paired_service_conflicts{{{JOB}, {NAMESPACE}}})",
                        "{{namespace}}",
                    ),
                ),
                width=8,
            ),
            Panel(
                "Memory and CPU",
                "Resident memory (left) and CPU seconds per second (right) of each replica.",
                (
                    Query(f"process_resident_memory_bytes{{{JOB}}}", "{{instance}} memory"),
                    Query(f"rate(process_cpu_seconds_total{{{JOB}}}[5m])", "{{instance}} cpu"),
                ),
                unit="bytes",
                width=8,
                right_axis=(".* cpu", "percentunit"),
            ),
        ),
    ),
)


def _panel_json(panel: Panel, *, panel_id: int, x: int, y: int) -> dict[str, Any]:
    field_config: dict[str, Any] = {"defaults": {"unit": panel.unit}, "overrides": []}
    if panel.right_axis is not None:
        legend, unit = panel.right_axis
        field_config["overrides"].append(
            {
                "matcher": {"id": "byRegexp", "options": legend},
                "properties": [
                    {"id": "unit", "value": unit},
                    {"id": "custom.axisPlacement", "value": "right"},
                ],
            }
        )
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": panel.width, "h": panel.height},
        "fieldConfig": field_config,
        "targets": [
            {
                "datasource": DATASOURCE,
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "refId": chr(ord("A") + index),
            }
            for index, query in enumerate(panel.queries)
        ],
    }


def panels() -> list[dict[str, Any]]:
    """Rows and their panels, laid out left to right, wrapping at the dashboard's width."""
    laid_out: list[dict[str, Any]] = []
    y = 0
    panel_id = 1
    for row in ROWS:
        laid_out.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"x": 0, "y": y, "w": WIDTH, "h": 1},
                "panels": [],
            }
        )
        panel_id += 1
        y += 1
        x = 0
        row_height = 0
        for panel in row.panels:
            if x + panel.width > WIDTH:
                x, y, row_height = 0, y + row_height, 0
            laid_out.append(_panel_json(panel, panel_id=panel_id, x=x, y=y))
            panel_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return laid_out


def _variable(name: str, label: str, query: str, *, include_all: bool) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": include_all,
        "multi": include_all,
        "allValue": ".*" if include_all else None,
        "current": {"text": "All", "value": "$__all"} if include_all else {},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    return {
        "uid": UID,
        "title": "headless-reconciler",
        "description": "Drift of Istio entries from live StatefulSet pod IPs, and how fast it is "
        "repaired. Built by deploy/grafana/generate.py.",
        "tags": ["headless-reconciler", "istio", "kubernetes"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "30s",
        "timezone": "browser",
        "links": [],
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                _variable(
                    "job",
                    "Job",
                    "label_values(headless_reconciler_build_info, job)",
                    include_all=False,
                ),
                _variable(
                    "namespace",
                    "Namespace",
                    'label_values(headless_reconciler_drift_objects{job=~"$job"}, namespace)',
                    include_all=True,
                ),
            ]
        },
        "panels": panels(),
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    check = parser.parse_args(argv).check
    content = render()
    if DASHBOARD.exists() and DASHBOARD.read_text() == content:
        return 0
    shown = DASHBOARD.relative_to(DASHBOARD.parents[2])
    if check:
        print(f"{shown}: out of date; run: python deploy/grafana/generate.py", file=sys.stderr)
        return 1
    DASHBOARD.write_text(content)
    print(f"{shown}: written", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
