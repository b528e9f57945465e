"""Raw LIST pages and watch lines into projections, on the fast path.

The client library's ``Watch`` parses each line into dicts and then into its
generated models: hundreds of Python objects per endpoint, most of them for
fields nobody reads. Here each line is decoded once, by a msgspec decoder built
once per projection type, straight into the projection's frozen structs;
fields the projection does not name (``managedFields``, ``zone``, ``nodeName``
...) are skipped by the parser without ever becoming Python objects. An
EndpointSlice's endpoints then share the values they repeat
(:func:`~reconciler.models.projections.share_repeated_values`), since they are
most of what the cache holds.

Watch lines are a tagged union on ``type``, so one decoder pass picks the
shape of ``object`` too: the projection for ADDED/MODIFIED/DELETED, just
``metadata.resourceVersion`` for a BOOKMARK (whose object is the zero value of
the type for built-in kinds, and only apiVersion/kind/metadata for custom
resources), and a ``Status`` for an ERROR, which becomes
:class:`~reconciler.api.errors.GoneError` when it says 410 (the real server
reports a too-old resourceVersion that way, as HTTP 200 plus one ERROR line).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, cast

import msgspec

from reconciler.api.errors import NO_RESPONSE, ApiError, PermanentError, Status, error_from_status
from reconciler.api.resources import P
from reconciler.models.projections import EndpointSlice, share_repeated_values

T = TypeVar("T")

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


class _ResourceVersionOnly(msgspec.Struct, frozen=True):
    resource_version: str = msgspec.field(name="resourceVersion", default="")


class _ListMeta(msgspec.Struct, frozen=True):
    resource_version: str = msgspec.field(name="resourceVersion", default="")
    continue_token: str = msgspec.field(name="continue", default="")


class _ListPage(msgspec.Struct, Generic[T], frozen=True):
    metadata: _ListMeta = _ListMeta()
    items: list[T] | None = None


class _Bookmarked(msgspec.Struct, frozen=True):
    metadata: _ResourceVersionOnly = _ResourceVersionOnly()


class _Change(msgspec.Struct, Generic[T], frozen=True, tag_field="type"):
    object: T


class _Added(_Change[T], Generic[T], frozen=True, tag="ADDED"):
    pass


class _Modified(_Change[T], Generic[T], frozen=True, tag="MODIFIED"):
    pass


class _Deleted(_Change[T], Generic[T], frozen=True, tag="DELETED"):
    pass


class _Bookmark(msgspec.Struct, frozen=True, tag_field="type", tag="BOOKMARK"):
    object: _Bookmarked


class _Error(msgspec.Struct, frozen=True, tag_field="type", tag="ERROR"):
    object: Status


_AFTER_DECODING: dict[type[Any], Callable[[Any], Any]] = {EndpointSlice: share_repeated_values}
"""Per projection, what is done to each object as it comes out of the decoder."""

_CHANGE_TYPES: dict[type[Any], ChangeType] = {
    _Added: "ADDED",
    _Modified: "MODIFIED",
    _Deleted: "DELETED",
}


@dataclass(frozen=True, slots=True)
class Page(Generic[P]):
    """One LIST page: its items, the list's resourceVersion and the continue token."""

    items: list[P]
    resource_version: str
    continue_token: str
    """``""`` on the last page (custom resources send ``""``, built-in kinds omit it)."""


@dataclass(frozen=True, slots=True)
class Change(Generic[P]):
    """An ADDED, MODIFIED or DELETED watch line."""

    type: ChangeType
    object: P
    resource_version: str


@dataclass(frozen=True, slots=True)
class Bookmark:
    """A BOOKMARK line: the stream is known to be current up to ``resource_version``."""

    resource_version: str


WatchLine = Change[P] | Bookmark


class ProjectionDecoder(Generic[P]):
    """The decoders for one projection type; build once with :func:`decoder_for`."""

    def __init__(self, projection: type[P]) -> None:
        generic = cast(Any, (_ListPage, _Added, _Modified, _Deleted))
        page, added, modified, deleted = (kind[projection] for kind in generic)
        self._page: msgspec.json.Decoder[_ListPage[P]] = msgspec.json.Decoder(page)
        self._line: msgspec.json.Decoder[_Change[P] | _Bookmark | _Error] = msgspec.json.Decoder(
            added | modified | deleted | _Bookmark | _Error
        )
        self._finish: Callable[[P], P] | None = _AFTER_DECODING.get(projection)

    def page(self, payload: bytes) -> Page[P]:
        """A LIST answer: its items, resourceVersion and continue token."""
        try:
            decoded = self._page.decode(payload)
        except msgspec.DecodeError as error:
            raise _undecodable("list", error) from error
        meta = decoded.metadata
        items = decoded.items or []
        if self._finish is not None:
            for item in items:
                self._finish(item)
        return Page(items, meta.resource_version, meta.continue_token)

    def line(self, payload: bytes) -> WatchLine[P]:
        """One watch line; an ERROR line is raised as the error its Status describes."""
        try:
            decoded = self._line.decode(payload)
        except msgspec.DecodeError as error:
            raise _undecodable("watch line", error) from error
        if isinstance(decoded, _Bookmark):
            return Bookmark(decoded.object.metadata.resource_version)
        if isinstance(decoded, _Error):
            raise error_from_status(decoded.object)
        obj = decoded.object if self._finish is None else self._finish(decoded.object)
        return Change(_CHANGE_TYPES[type(decoded)], obj, obj.metadata.resource_version)


_decoders: dict[type[Any], ProjectionDecoder[Any]] = {}


def decoder_for(projection: type[P]) -> ProjectionDecoder[P]:
    """The (shared, cached) decoders for ``projection``."""
    decoder = _decoders.get(projection)
    if decoder is None:
        decoder = _decoders[projection] = ProjectionDecoder(projection)
    return decoder


def _undecodable(what: str, error: msgspec.DecodeError) -> ApiError:
    return PermanentError(code=NO_RESPONSE, reason="Undecodable", message=f"{what}: {error}")
