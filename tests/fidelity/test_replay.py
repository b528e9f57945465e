"""The recorded answers of a real Kubernetes v1.28 API server, replayed against the simulator.

Every exchange of every transcript in ``../shared/fidelity`` is one test: its
request is sent to a fresh simulated cluster (after the script in
``scripts.py`` rebuilt the state the recorder had), and the status code,
content type, ``Warning`` headers and body must match the recording, with
only the values the fidelity README lists as varying masked (``masking.py``).

Two tables below say where the comparison is not the plain one:
``ADAPTED`` for exchanges compared in part because the recording is partial,
``XFAIL`` for known differences of the simulator (also listed in
``docs/simulator.md``). A known difference that stops being one fails the
suite (strict xfail), so the table stays true.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from . import transcripts
from .adaptations import (
    Adaptation,
    counted_slices,
    first_of_list,
    first_three_endpoints,
    served_groups_only,
    served_resources_only,
    with_endpoints,
)
from .replay import Verdict
from .runner import run_transcript
from .scripts import script_for

ADAPTED: Mapping[tuple[str, int], Adaptation] = {
    ("01", 1): Adaptation(
        "the recorder kept 18 of /api/v1's 38 entries, and the simulator serves fewer"
        " resources than a cluster: the entries both list are compared, in order",
        narrow=served_resources_only,
    ),
    ("01", 2): Adaptation(
        "a real cluster has 20 API groups; the recorded ones the simulator serves are"
        " compared, in the recorded order",
        narrow=served_groups_only,
    ),
    ("03b", 1): Adaptation(
        "endpoints cut to 3 per slice by the recorder: compared are the count per slice"
        " (from recorder_summary) and the first endpoint's fields and conditions",
        narrow=counted_slices,
    ),
    ("03b", 2): Adaptation(
        "PodList cut to its first item by the recorder: that item and the count",
        narrow=first_of_list,
    ),
    ("08", 30): Adaptation(
        "request cut to 3 of its 4097 endpoints by the recorder: the 4097 are sent",
        request=with_endpoints(4097, labelled=False),
    ),
    ("08", 36): Adaptation(
        "request and response cut to 3 of 4096 endpoints by the recorder: the 4096 are sent,"
        " the first 3 returned compared",
        request=with_endpoints(4096, labelled=True),
        narrow=first_three_endpoints,
    ),
}

XFAIL: Mapping[tuple[str, int], str] = {
    ("03", 5): "legacy core/v1 Endpoints are not served (the project reads EndpointSlices)",
    ("03", 9): "legacy core/v1 Endpoints are not served (the project reads EndpointSlices)",
    ("06", 21): (
        "every watch cache of the simulator starts at its first resourceVersion (100), so RV 1"
        " is too old for every resource; the recorded leases cache still covered RV 1"
    ),
}

_results: dict[str, dict[int, Verdict]] = {}


def _key(name: str) -> str:
    return name.split("-", 1)[0]


def _verdict(name: str, index: int) -> Verdict:
    """The transcript is replayed once, by the first of its tests; the others read the result."""
    if name not in _results:
        recorded = transcripts.transcript(name)
        adaptations = {i: a for (t, i), a in ADAPTED.items() if t == _key(name)}
        try:
            _results[name] = run_transcript(recorded, script_for(name), adaptations)
        except Exception as error:  # every exchange of the transcript reports the crash
            crash = f"the replay crashed: {error!r}"
            _results[name] = {e.index: Verdict(e, (crash,)) for e in recorded.exchanges}
    return _results[name][index]


def _cases() -> list[object]:
    if not transcripts.available():
        reason = f"no fidelity transcripts at {transcripts.FIDELITY_DIR}"
        return [pytest.param(None, None, marks=pytest.mark.skip(reason=reason), id="missing")]
    cases = []
    for recorded in transcripts.load_all():
        for exchange in recorded.exchanges:
            known = XFAIL.get((_key(recorded.name), exchange.index))
            marks = [pytest.mark.xfail(reason=known, strict=True)] if known else []
            cases.append(
                pytest.param(recorded.name, exchange.index, id=exchange.label, marks=marks)
            )
    return cases


@pytest.mark.parametrize(("name", "index"), _cases())
def test_exchange(name: str, index: int) -> None:
    verdict = _verdict(name, index)
    assert verdict.matched, "\n".join([verdict.exchange.note, *verdict.problems])


def test_tables_name_recorded_exchanges() -> None:
    """Every adapted or known-different exchange exists in the transcripts."""
    if not transcripts.available():
        pytest.skip(f"no fidelity transcripts at {transcripts.FIDELITY_DIR}")
    for name, index in [*ADAPTED, *XFAIL]:
        assert index < len(transcripts.transcript(name).exchanges), (name, index)
