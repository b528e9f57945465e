"""Replay of the recorded real-server transcripts against the simulator."""

from __future__ import annotations

import pytest

from . import transcripts
from .replay import Verdict
from .runner import run_transcript
from .scripts import script_for

_results: dict[str, dict[int, Verdict]] = {}


def _verdict(name: str, index: int) -> Verdict:
    if name not in _results:
        _results[name] = run_transcript(transcripts.transcript(name), script_for(name))
    return _results[name][index]


def _cases() -> list[object]:
    if not transcripts.available():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=f"no transcripts at {transcripts.FIDELITY_DIR}"), id="no-transcripts")]
    return [
        pytest.param(t.name, e.index, id=e.label)
        for t in transcripts.load_all()
        for e in t.exchanges
    ]


@pytest.mark.parametrize(("name", "index"), _cases())
def test_exchange(name: str, index: int) -> None:
    verdict = _verdict(name, index)
    assert verdict.matched, "\n".join([verdict.exchange.note, *verdict.problems])
