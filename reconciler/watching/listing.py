"""A complete, consistent LIST, fetched page by page.

Pages (``limit``/``continue``) keep each answer small on a big cluster: 500
EndpointSlices of 100 endpoints is already megabytes. All pages of one list
are served at the first page's resourceVersion, so the items add up to one
snapshot, and that resourceVersion is where the watch starts.

If the snapshot expires between two pages (the server compacted past it and
answers the continue token with 410), the list starts again from scratch. The
server would offer an "inconsistent" token to finish with, but a list stitched
from two points in time cannot be the base of a watch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic

from reconciler.api.client import KubeClient
from reconciler.api.errors import GoneError
from reconciler.api.resources import P, Resource
from reconciler.watching.decoding import decoder_for

DEFAULT_PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Listing(Generic[P]):
    """Every object of a LIST, and the resourceVersion they were read at."""

    items: list[P]
    resource_version: str


async def list_all(
    client: KubeClient,
    resource: Resource[P],
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
    field_selector: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    max_restarts: int = 3,
) -> Listing[P]:
    """List everything that matches, restarting (at most ``max_restarts`` times) on expiry."""
    decoder = decoder_for(resource.projection)
    items: list[P] = []
    continue_token = ""
    restarts = 0
    while True:
        try:
            payload = await client.list_page(
                resource,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                limit=page_size,
                continue_token=continue_token or None,
            )
        except GoneError:
            if not continue_token or restarts >= max_restarts:
                raise
            restarts += 1
            items, continue_token = [], ""
            continue
        page = decoder.page(payload)
        items.extend(page.items)
        if not page.continue_token:
            return Listing(items, page.resource_version)
        continue_token = page.continue_token
