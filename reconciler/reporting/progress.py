"""A one-line progress indication on stderr while a large cluster is listed.

Listing 150,000 pods' EndpointSlices takes a while, and a silent terminal looks
hung. The line is redrawn in place, so it only makes sense on a terminal: when
stderr is not a TTY (CI logs, pipes) nothing is written at all, and stdout,
which carries the report, is never touched.
"""

from __future__ import annotations

import sys
from typing import TextIO

_CLEAR_LINE = "\r\033[K"


class Progress:
    """Counts LIST pages per resource (as the client's request observer) and shows them."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self._stream = stream
        self._enabled = enabled
        self._pages: dict[str, int] = {}
        self._listed: list[str] = []

    @classmethod
    def on_stderr(cls) -> Progress:
        """Enabled only when stderr is a terminal."""
        return cls(sys.stderr, enabled=sys.stderr.isatty())

    def on_request(self, verb: str, resource: str, code: str) -> None:
        """``KubeClient``'s ``on_request`` observer: one call per HTTP request."""
        del code
        if verb != "list":
            return
        self._pages[resource] = self._pages.get(resource, 0) + 1
        self._show(f"listing {resource} (page {self._pages[resource]})")

    def listed(self, resource: str, count: int) -> None:
        self._listed.append(f"{count:,} {resource}")
        self._show("")

    def clear(self) -> None:
        if self._enabled:
            self._stream.write(_CLEAR_LINE)
            self._stream.flush()

    def _show(self, current: str) -> None:
        if not self._enabled:
            return
        text = f"listed {', '.join(self._listed)}" if self._listed else ""
        if current:
            text = f"{text}; {current}" if text else current
        self._stream.write(f"{_CLEAR_LINE}{text}...")
        self._stream.flush()
