"""The metrics module: names and labels of SPEC section 6, series at zero, bounded labels."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from reconciler import __version__
from reconciler.applying.applier import Applied, Outcome
from reconciler.health import WatchActivity
from reconciler.metrics import WATCHED_RESOURCES, Metrics
from reconciler.models.refs import Kind, ObjectKey
from reconciler.planning.plans import (
    DriftReason,
    EndpointChange,
    NoWrite,
    UpdateServiceEntryEndpoints,
    Verdict,
)
from reconciler.watching import Restart, RestartReason

SE = ObjectKey(Kind.SERVICE_ENTRY, "shop", "web-static")
PAIRED = ObjectKey(Kind.SERVICE, "shop", "web-grpc")
STALE = EndpointChange("web-1", DriftReason.STALE, "10.244.0.3", "10.244.0.7")

PREFIX = "headless_reconciler_"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Clock:
    def __init__(self) -> None:
        self.monotonic = 1000.0

    def __call__(self) -> float:
        return self.monotonic


def scrape(metrics: Metrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(PREFIX + name, frozenset(labels.items()))]


def stale_update() -> UpdateServiceEntryEndpoints:
    return UpdateServiceEntryEndpoints(SE, "7", before=(), after=(), changes=(STALE,))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def metrics(clock: Clock) -> Metrics:
    return Metrics(mode="write", namespaces=("shop", "ledger"), monotonic=clock, wall_clock=clock)


def test_every_series_exists_at_zero_before_anything_happens(metrics: Metrics) -> None:
    samples = scrape(metrics)

    for kind in ("ServiceEntry", "WorkloadEntry", "Service"):
        for result in ("noop", "updated", "conflict", "error", "refused", "held", "dry_run"):
            assert value(samples, "reconcile_total", kind=kind, result=result) == 0
        assert value(samples, "reconcile_duration_seconds_count", kind=kind) == 0
        assert value(samples, "event_to_write_seconds_count", kind=kind) == 0
        assert value(samples, "oldest_drift_seconds", kind=kind) == 0
        for namespace in ("shop", "ledger"):
            assert value(samples, "drift_objects", kind=kind, namespace=namespace) == 0
    for kind in ("ServiceEntry", "WorkloadEntry"):
        for reason in ("stale", "missing", "extra"):
            assert value(samples, "drift_endpoints", kind=kind, reason=reason) == 0
        assert value(samples, "unmanaged_stale_addresses", kind=kind, namespace="shop") == 0
    for resource in WATCHED_RESOURCES:
        for type in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            assert value(samples, "watch_events_total", resource=resource, type=type) == 0
        for reason in ("closed", "expired", "transient", "error"):
            assert value(samples, "watch_restarts_total", resource=resource, reason=reason) == 0
        assert value(samples, "cache_objects", resource=resource) == 0
    assert value(samples, "paired_service_conflicts", namespace="shop") == 0
    assert value(samples, "queue_keys", state="ready") == 0


def test_each_process_has_a_registry_of_its_own(clock: Clock) -> None:
    first = Metrics(mode="write", monotonic=clock)
    second = Metrics(mode="write", monotonic=clock)

    first.reconciled(Applied(SE, Outcome.UPDATED), None)

    assert value(scrape(first), "reconcile_total", kind="ServiceEntry", result="updated") == 1
    assert value(scrape(second), "reconcile_total", kind="ServiceEntry", result="updated") == 0
    assert not any(family.name.startswith(PREFIX) for family in REGISTRY.collect())


def test_build_info_names_version_and_mode_and_leader_follows_leadership(clock: Clock) -> None:
    metrics = Metrics(mode="dry_run", monotonic=clock)
    assert value(scrape(metrics), "build_info", version=__version__, mode="dry_run") == 1
    assert value(scrape(metrics), "leader") == 0

    metrics.set_leader(True)

    assert value(scrape(metrics), "leader") == 1


def test_outcomes_are_counted_and_timed_from_the_start_of_planning(
    metrics: Metrics, clock: Clock
) -> None:
    metrics.planned(SE, [stale_update()], clock.monotonic)
    clock.monotonic += 0.2

    metrics.reconciled(Applied(SE, Outcome.CONFLICT), None)

    samples = scrape(metrics)
    assert value(samples, "reconcile_total", kind="ServiceEntry", result="conflict") == 1
    assert value(samples, "reconcile_duration_seconds_count", kind="ServiceEntry") == 1
    assert value(samples, "reconcile_duration_seconds_sum", kind="ServiceEntry") == pytest.approx(
        0.2
    )


def test_a_paired_service_outcome_is_timed_from_the_plan_of_its_headless_service(
    metrics: Metrics, clock: Clock
) -> None:
    headless = ObjectKey(Kind.SERVICE, "shop", "web")
    metrics.planned(headless, [NoWrite(PAIRED, Verdict.CONFLICT, "foreign")], clock.monotonic)
    clock.monotonic += 0.5

    metrics.reconciled(Applied(PAIRED, Outcome.REFUSED), None)

    samples = scrape(metrics)
    assert value(samples, "reconcile_duration_seconds_sum", kind="Service") == pytest.approx(0.5)
    assert value(samples, "paired_service_conflicts", namespace="shop") == 1


@pytest.mark.parametrize(
    ("outcome", "observed_at", "timed"),
    [
        pytest.param(Outcome.UPDATED, 990.0, True, id="a write caused by an event"),
        pytest.param(Outcome.UPDATED, None, False, id="a write from a resync"),
        pytest.param(Outcome.DRY_RUN, 990.0, False, id="nothing written"),
        pytest.param(Outcome.CONFLICT, 990.0, False, id="a write refused with 409"),
    ],
)
def test_event_to_write_is_observed_for_acknowledged_writes_caused_by_an_event(
    metrics: Metrics, outcome: Outcome, observed_at: float | None, timed: bool
) -> None:
    metrics.reconciled(Applied(SE, outcome), observed_at)

    samples = scrape(metrics)
    assert value(samples, "event_to_write_seconds_count", kind="ServiceEntry") == int(timed)
    if timed:
        assert value(samples, "event_to_write_seconds_sum", kind="ServiceEntry") == 10.0


def test_drift_gauges_follow_the_latest_plan_and_the_oldest_drift_ages(
    metrics: Metrics, clock: Clock
) -> None:
    metrics.planned(SE, [stale_update()], clock.monotonic)
    clock.monotonic += 42.0

    drifted = scrape(metrics)
    assert value(drifted, "drift_objects", kind="ServiceEntry", namespace="shop") == 1
    assert value(drifted, "drift_endpoints", kind="ServiceEntry", reason="stale") == 1
    assert value(drifted, "oldest_drift_seconds", kind="ServiceEntry") == 42.0

    metrics.planned(SE, [], clock.monotonic)

    settled = scrape(metrics)
    assert value(settled, "drift_objects", kind="ServiceEntry", namespace="shop") == 0
    assert value(settled, "drift_endpoints", kind="ServiceEntry", reason="stale") == 0
    assert value(settled, "oldest_drift_seconds", kind="ServiceEntry") == 0


def test_a_namespace_planned_once_stays_exported_at_zero(clock: Clock) -> None:
    metrics = Metrics(mode="write", monotonic=clock)
    elsewhere = ObjectKey(Kind.SERVICE_ENTRY, "team-a", "api")
    metrics.planned(
        elsewhere,
        [UpdateServiceEntryEndpoints(elsewhere, "1", before=(), after=(), changes=(STALE,))],
        clock.monotonic,
    )
    metrics.planned(elsewhere, [], clock.monotonic)

    samples = scrape(metrics)

    assert value(samples, "drift_objects", kind="ServiceEntry", namespace="team-a") == 0


def test_requests_watch_lines_and_restarts_are_counted(metrics: Metrics) -> None:
    metrics.request_finished("patch", "serviceentries", "409")
    metrics.watch_line_received("endpointslices", "MODIFIED")
    metrics.watch_line_received("endpointslices", "MODIFIED")
    metrics.watch_restarted(Restart("services", RestartReason.EXPIRED, None, 0.0))

    samples = scrape(metrics)
    assert (
        value(samples, "api_requests_total", verb="patch", resource="serviceentries", code="409")
        == 1
    )
    assert value(samples, "watch_events_total", resource="endpointslices", type="MODIFIED") == 2
    assert value(samples, "watch_restarts_total", resource="services", reason="expired") == 1


class Queue:
    ready = 3
    waiting = 2
    running = 1


def test_cache_queue_unmanaged_staleness_and_watch_progress_are_read_at_scrape_time(
    clock: Clock,
) -> None:
    activity = WatchActivity(WATCHED_RESOURCES, monotonic=clock)
    metrics = Metrics(mode="write", activity=activity, monotonic=clock, wall_clock=lambda: 5000.0)
    unmanaged: dict[tuple[Kind, str], int] = {(Kind.SERVICE_ENTRY, "shop"): 2}
    stores: Mapping[str, list[int]] = {"serviceentries": [1, 2, 3]}
    metrics.read_from(cache_sizes=stores, queue=Queue(), unmanaged=lambda: unmanaged)
    clock.monotonic += 30.0
    activity.received("services", "BOOKMARK")
    clock.monotonic += 10.0

    samples = scrape(metrics)

    assert value(samples, "cache_objects", resource="serviceentries") == 3
    assert value(samples, "cache_objects", resource="services") == 0
    assert value(samples, "queue_keys", state="ready") == 3
    assert value(samples, "queue_keys", state="waiting") == 2
    assert value(samples, "queue_keys", state="running") == 1
    assert value(samples, "unmanaged_stale_addresses", kind="ServiceEntry", namespace="shop") == 2
    assert value(samples, "watch_progress_timestamp_seconds", resource="services") == 4990.0
    assert value(samples, "watch_progress_timestamp_seconds", resource="namespaces") == 4960.0

    unmanaged.clear()
    assert (
        value(scrape(metrics), "unmanaged_stale_addresses", kind="ServiceEntry", namespace="shop")
        == 0
    ), "a namespace once stale stays exported at zero"


def test_label_values_come_from_closed_sets_and_namespaces_never_names_or_addresses(
    metrics: Metrics, clock: Clock
) -> None:
    metrics.planned(SE, [stale_update()], clock.monotonic)
    metrics.reconciled(Applied(SE, Outcome.UPDATED, "web-1: 10.244.0.3 -> 10.244.0.7"), 999.0)
    metrics.request_finished("patch", "serviceentries", "200")

    labels = {
        (label, label_value)
        for name, labels in scrape(metrics)
        if name.startswith(PREFIX)
        for label, label_value in labels
    }

    assert not any(
        "10.244" in found or "web-static" in found or "web-1" in found for _, found in labels
    )
    assert {label for label, _ in labels} <= {
        "kind",
        "namespace",
        "reason",
        "result",
        "resource",
        "type",
        "verb",
        "code",
        "state",
        "le",
        "version",
        "mode",
    }
    assert {found for label, found in labels if label == "namespace"} == {"shop", "ledger"}


def test_every_exported_metric_is_in_the_reference(metrics: Metrics) -> None:
    reference = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    suffixes = {"info": "_info", "counter": "_total"}
    families = {
        family.name + suffixes.get(family.type, "")
        for family in metrics.registry.collect()
        if family.name.startswith(PREFIX)
    }

    undocumented = {name for name in families if f"`{name}`" not in reference}

    assert len(families) == 16
    assert not undocumented
