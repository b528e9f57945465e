"""Progress goes to a terminal's stderr only, and counts LIST pages as they arrive."""

from __future__ import annotations

from io import StringIO

from reconciler.reporting.progress import Progress


def test_progress_writes_nothing_when_not_on_a_terminal() -> None:
    stream = StringIO()
    progress = Progress(stream, enabled=False)

    progress.on_request("list", "endpointslices", "200")
    progress.listed("endpointslices", 1200)
    progress.clear()

    assert stream.getvalue() == ""


def test_progress_counts_pages_and_listed_objects_on_one_redrawn_line() -> None:
    stream = StringIO()
    progress = Progress(stream, enabled=True)

    progress.on_request("list", "services", "200")
    progress.listed("services", 12)
    progress.on_request("list", "endpointslices", "200")
    progress.on_request("get", "namespaces", "200")
    progress.on_request("list", "endpointslices", "200")

    last = stream.getvalue().split("\r\033[K")[-1]
    assert last == "listed 12 services; listing endpointslices (page 2)..."
    assert "\n" not in stream.getvalue()


def test_clearing_leaves_the_line_empty() -> None:
    stream = StringIO()
    progress = Progress(stream, enabled=True)
    progress.listed("services", 1)

    progress.clear()

    assert stream.getvalue().endswith("\r\033[K")
