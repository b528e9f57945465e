"""Fixtures of the corpus of bad and odd input (issue 9): raw objects, and "no crash" for all.

The shared e2e fixtures (``cluster``, ``namespace``, ``start_controller``,
``istio``, ``written_by``...) apply here as everywhere under ``tests/e2e``.
Added for the corpus: ``raw`` (objects as raw JSON, see ``corpus_world``),
``other_namespace`` (a second namespace, deleted afterwards), and a check
that runs around every corpus test: nothing logged an error or a traceback.
A reconcile that raises is logged by the work queue with its traceback, so
"no crash" is that check, not only the controller task still running.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from corpus_world import RawWorld
from kubernetes_asyncio.client import ApiClient, CoreV1Api
from kubernetes_asyncio.client.exceptions import ApiException

from reconciler.testbed.waiting import wait_for_namespace_gone

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
def nothing_logged_an_error(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fails the test if the controller (or the simulator) logged an error or a traceback."""
    yield
    failures = [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.get_records("call")
        if record.name.startswith("reconciler")
        and (record.levelno >= logging.ERROR or record.exc_info)
    ]
    assert failures == [], failures


@pytest.fixture
def raw(api: ApiClient, namespace: str) -> RawWorld:
    return RawWorld(api, namespace)


@pytest.fixture
async def other_namespace(api: ApiClient) -> AsyncIterator[str]:
    """A second fresh namespace, deleted (and waited for) afterwards."""
    name = f"e2e-other-{secrets.token_hex(4)}"
    # The client's stubs type bodies as models; at run time it sends dicts as they are.
    core: Any = CoreV1Api(api)
    await core.create_namespace({"metadata": {"name": name}})
    yield name
    try:
        await core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise
    await wait_for_namespace_gone(api, name=name)
