"""Fixtures shared by the runtime tests."""

from __future__ import annotations

import pytest
from runtime_world import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
