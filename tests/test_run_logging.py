"""An operator whose controller cannot reach the API sees why in the log, not silence."""

from __future__ import annotations

import logging

import pytest

from reconciler.api.errors import TransientError
from reconciler.config import RunSettings
from reconciler.running import Telemetry
from reconciler.watching import Restart, RestartReason


def test_a_failed_watch_is_logged_as_a_warning_with_the_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    telemetry = Telemetry(RunSettings())
    error = TransientError(code=0, reason="", message="Cannot connect to host 127.0.0.1:1")

    with caplog.at_level(logging.WARNING, logger="reconciler.running"):
        telemetry.watch_restarted(
            Restart("services", RestartReason.TRANSIENT, None, delay=0.8, error=error)
        )
        telemetry.watch_restarted(Restart("services", RestartReason.CLOSED, "42", delay=0.0))

    assert [record.getMessage() for record in caplog.records] == [
        "watching services failed (transient), retrying in 0.8s: Cannot connect to host 127.0.0.1:1"
    ]
