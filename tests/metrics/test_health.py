"""Liveness fails only when a watcher hangs; progress is what the stalled-watch alert reads."""

from __future__ import annotations

from reconciler.health import Health, WatchActivity, watches_alive
from reconciler.watching import Restart, RestartReason

RESOURCES = ("services", "endpointslices")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_watcher_silent_for_longer_than_the_stall_window_fails_liveness() -> None:
    clock = Clock()
    activity = WatchActivity(RESOURCES, monotonic=clock)
    health = Health()
    health.add_liveness("watches", watches_alive(activity, stall_after=60))
    clock.now += 50
    activity.received("services", "MODIFIED")
    assert health.live().ok

    clock.now += 20

    result = health.live()
    assert not result.ok
    assert result.render(verbose=False) == (
        "[-]watches failed: no sign of life for over 60s from the watch of endpointslices\n"
        "check failed\n"
    )


def test_a_failing_watcher_is_alive_but_makes_no_progress() -> None:
    clock = Clock()
    activity = WatchActivity(RESOURCES, monotonic=clock)
    clock.now += 100

    activity.requested("watch", "services", "403")
    activity.restarted(Restart("endpointslices", RestartReason.TRANSIENT, "12", 1.6))

    assert activity.silent(longer_than=60) == []
    assert activity.last_progress() == {"services": 100.0, "endpointslices": 100.0}


def test_progress_is_a_list_or_watch_answered_a_watch_line_or_a_stream_ended_normally() -> None:
    clock = Clock()
    activity = WatchActivity(RESOURCES, monotonic=clock)

    clock.now = 110.0
    activity.requested("list", "services", "200")
    activity.requested("patch", "endpointslices", "200")
    clock.now = 120.0
    activity.restarted(Restart("endpointslices", RestartReason.CLOSED, "12", 0.0))

    assert activity.last_progress() == {"services": 110.0, "endpointslices": 120.0}
    clock.now = 130.0
    activity.received("services", "BOOKMARK")
    assert activity.last_progress()["services"] == 130.0


def test_readiness_lists_every_check_when_verbose() -> None:
    health = Health()
    health.add_readiness("caches-synced", lambda: None)
    health.add_readiness("not-shutting-down", lambda: "shutting down")

    result = health.ready()

    assert not result.ok
    assert result.render(verbose=True) == (
        "[+]caches-synced ok\n[-]not-shutting-down failed: shutting down\ncheck failed\n"
    )


def test_passing_checks_answer_ok() -> None:
    health = Health()
    health.add_readiness("caches-synced", lambda: None)

    assert health.ready().render(verbose=False) == "ok\n"
    assert health.ready().render(verbose=True) == "[+]caches-synced ok\nok\n"
    assert health.live().ok, "no check is a passing probe"
