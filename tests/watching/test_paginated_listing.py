"""A LIST is fetched page by page and adds up to one snapshot; an expired snapshot starts over."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.api.errors import GoneError, TransientError
from reconciler.api.resources import ENDPOINT_SLICES
from reconciler.watching.listing import list_all


def gone() -> GoneError:
    return GoneError(
        code=410, reason="Expired", message="The provided continue parameter is too old"
    )


async def test_pages_are_followed_until_the_continue_token_runs_out(client: Any, wire: Any) -> None:
    client.pages = [
        wire.page("50", wire.slice("a", "1"), wire.slice("b", "2"), continue_token="t1"),
        wire.page("50", wire.slice("c", "3"), continue_token="t2"),
        wire.page("50"),
    ]
    listing = await list_all(client, ENDPOINT_SLICES, namespace="ns", page_size=2)
    assert [item.metadata.name for item in listing.items] == ["a", "b", "c"]
    assert listing.resource_version == "50"
    assert [call["continue_token"] for call in client.list_calls] == [None, "t1", "t2"]
    assert {call["limit"] for call in client.list_calls} == {2}
    assert {call["namespace"] for call in client.list_calls} == {"ns"}


async def test_selectors_are_sent_with_every_page(client: Any, wire: Any) -> None:
    client.pages = [wire.page("5", wire.slice("a", "1"), continue_token="t"), wire.page("5")]
    await list_all(
        client,
        ENDPOINT_SLICES,
        label_selector="kubernetes.io/service-name=web",
        field_selector="x=y",
    )
    assert all(
        call["label_selector"] == "kubernetes.io/service-name=web" for call in client.list_calls
    )
    assert all(call["field_selector"] == "x=y" for call in client.list_calls)


async def test_the_default_page_size_is_500(client: Any, wire: Any) -> None:
    client.pages = [wire.page("5")]
    await list_all(client, ENDPOINT_SLICES)
    assert client.list_calls[0]["limit"] == 500


async def test_a_410_on_a_continue_token_restarts_the_list_from_scratch(
    client: Any, wire: Any
) -> None:
    client.pages = [
        wire.page("50", wire.slice("a", "1"), continue_token="stale"),
        gone(),
        wire.page("90", wire.slice("a", "1"), continue_token="fresh"),
        wire.page("90", wire.slice("d", "80")),
    ]
    listing = await list_all(client, ENDPOINT_SLICES, page_size=1)
    assert [item.metadata.name for item in listing.items] == ["a", "d"]
    assert listing.resource_version == "90"
    assert [call["continue_token"] for call in client.list_calls] == [None, "stale", None, "fresh"]


async def test_restarts_are_bounded(client: Any, wire: Any) -> None:
    client.pages = [wire.page("1", continue_token="t"), gone()] * 3
    with pytest.raises(GoneError):
        await list_all(client, ENDPOINT_SLICES, max_restarts=2)
    assert len(client.list_calls) == 6


async def test_a_410_on_the_first_page_is_not_swallowed(client: Any) -> None:
    client.pages = [gone()]
    with pytest.raises(GoneError):
        await list_all(client, ENDPOINT_SLICES)


async def test_other_errors_propagate(client: Any, wire: Any) -> None:
    client.pages = [
        wire.page("1", continue_token="t"),
        TransientError(code=503, reason="", message="down"),
    ]
    with pytest.raises(TransientError):
        await list_all(client, ENDPOINT_SLICES)
