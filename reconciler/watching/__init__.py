"""The project's own list/watch layer: raw JSON in, compact projections out.

:class:`Watcher` turns one resource into a stream of :class:`Relisted`,
:class:`Applied` and :class:`Deleted` events (lists page by page, watches from
the list's resourceVersion with bookmarks, resumes, relists on 410, backs off
on errors); :func:`list_all` is the paginated list on its own; the decoders
in :mod:`reconciler.watching.decoding` are the fast path both use.
"""

from reconciler.watching.backoff import Backoff
from reconciler.watching.listing import Listing, list_all
from reconciler.watching.watcher import (
    Applied,
    Deleted,
    LineObserver,
    Relisted,
    Restart,
    RestartObserver,
    RestartReason,
    Watcher,
    WatchEvent,
)

__all__ = [
    "Applied",
    "Backoff",
    "Deleted",
    "LineObserver",
    "Listing",
    "Relisted",
    "Restart",
    "RestartObserver",
    "RestartReason",
    "WatchEvent",
    "Watcher",
    "list_all",
]
