"""No credential of the controller's ever shows up in its output, its metrics or its Events.

The real ``run`` command, with debug logging, is given a kubeconfig holding a
credential and made to fail in every way an API server fails (401, 403, 429,
500 on lists, watches, writes and Events) while it also has real work to do,
so every logging path runs: watch restarts, retried requests, failed
reconciles with tracebacks, Events refused and written. The credential (a
bearer token the simulator accepts; a wrong token, basic auth and embedded
client certificate data it rejects) must never appear in stdout or stderr,
in ``/metrics``, in an Event or in any object the controller wrote. That the
client's errors redact an API answer that *quotes* the credential is shown
in ``test_credential_redaction.py``.
"""

from __future__ import annotations

import base64
import functools
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
import yaml
from kubernetes_asyncio.client import CoreV1Api, CustomObjectsApi, EventsV1Api

from reconciler.planning.references import SERVICE_ANNOTATION
from reconciler.simulator.cluster import simulated_cluster
from reconciler.simulator.simulator import Simulator
from reconciler.testbed.waiting import watch_until

from .commands import ISTIO, NAMESPACE, RunCommand, wait_for_repair, web_world

TOKEN = "hr-token-" + secrets.token_urlsafe(32)
"""The simulator's one accepted bearer token: distinctive, so any trace of it is found."""


def traces(secret: str) -> list[str]:
    """The secret, and pieces long enough that a truncated or split copy is caught too."""
    return [secret, secret[:16], secret[-16:]]


def assert_absent(secret: str, text: str, where: str) -> None:
    for trace in traces(secret):
        assert trace not in text, f"{trace!r} found in {where}"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with simulated_cluster(token=TOKEN) as simulator:
        yield simulator


def kubeconfig(path: Path, *, server: str, user: dict[str, str]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "sim", "cluster": {"server": server}}],
                "users": [{"name": "someone", "user": user}],
                "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "someone"}}],
                "current-context": "sim",
            }
        )
    )
    path.chmod(0o600)
    return path


def refused_entry() -> dict[str, Any]:
    """A ServiceEntry naming another namespace's Service: refused, with an Event."""
    return {
        "apiVersion": "/".join(ISTIO),
        "kind": "ServiceEntry",
        "metadata": {"name": "elsewhere", "annotations": {SERVICE_ANNOTATION: "other/web"}},
        "spec": {
            "hosts": ["elsewhere.example"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "endpoints": [{"address": "10.244.250.251"}],
        },
    }


def is_warning_about(resource: str) -> Callable[[dict[str, Any]], bool]:
    def matches(entry: dict[str, Any]) -> bool:
        message = str(entry["message"])
        return entry["level"] == "warning" and message.startswith(f"watching {resource} failed")

    return matches


async def test_a_bearer_token_never_appears_in_output_metrics_or_events_while_the_api_fails(
    sim: Simulator, tmp_path: Path
) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", server=sim.url, user={"token": TOKEN})
    async with sim.api_client() as api:
        wanted = await web_world(api)
        sim.faults.fail(401, verb="list", resource="endpointslices", times=1)
        sim.faults.fail(429, verb="watch", resource="services", times=1, retry_after=0)
        sim.faults.fail(500, verb="list", resource="serviceentries", times=1)
        sim.faults.forbid("patch", "serviceentries")
        sim.faults.forbid("create", "events")
        command = await RunCommand.start(config, "--namespace", NAMESPACE, "--log-level", "debug")
        try:
            url = await command.endpoint_url()
            await command.wait_for_log(is_warning_about("endpointslices"))
            await command.wait_for_log(lambda e: e["message"].startswith("reconcile failed"))
            sim.faults.clear()
            await wait_for_repair(api, wanted)
            custom: Any = CustomObjectsApi(api)
            await custom.create_namespaced_custom_object(
                *ISTIO, NAMESPACE, "serviceentries", refused_entry()
            )
            await watch_until(
                functools.partial(CoreV1Api(api).list_namespaced_event, NAMESPACE),
                lambda events: any(e["reason"] == "Refused" for e in events),
                what="a Refused Event",
            )
            async with aiohttp.ClientSession() as http, http.get(url + "/metrics") as scraped:
                metrics = await scraped.text()
        finally:
            code = await command.stop()
        events = [
            await CoreV1Api(api).list_event_for_all_namespaces(_preload_content=False),
            await EventsV1Api(api).list_event_for_all_namespaces(_preload_content=False),
        ]
        stored_events = "\n".join([(await response.read()).decode() for response in events])

    levels = {entry["level"] for entry in command.logged()}
    assert code == 0, command.output[-3000:]
    assert {"debug", "warning", "error"} <= levels, levels
    assert "Refused" in stored_events
    assert_absent(TOKEN, command.output, "the command's output")
    assert_absent(TOKEN, metrics, "/metrics")
    assert_absent(TOKEN, stored_events, "Events")
    written = msgspec.json.encode([record.body for record in sim.store.write_log]).decode()
    assert_absent(TOKEN, written, "objects written")


WRONG_TOKEN = "hr-wrong-" + secrets.token_urlsafe(32)
PASSWORD = "hr-password-" + secrets.token_urlsafe(16)
BASIC = base64.b64encode(f"operator:{PASSWORD}".encode()).decode()
PRIVATE_KEY_BODY = base64.b64encode(secrets.token_bytes(96)).decode()
KEY_DATA = base64.b64encode(
    f"-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END PRIVATE KEY-----\n".encode()
).decode()
REJECTED = {
    "wrong bearer token": ({"token": WRONG_TOKEN}, [WRONG_TOKEN]),
    "basic auth": ({"username": "operator", "password": PASSWORD}, [PASSWORD, BASIC]),
    "client key data": (
        {"client-certificate-data": KEY_DATA, "client-key-data": KEY_DATA},
        [KEY_DATA, PRIVATE_KEY_BODY],
    ),
}


@pytest.mark.parametrize(("user", "hidden"), REJECTED.values(), ids=REJECTED.keys())
async def test_rejected_credentials_never_appear_in_the_output(
    sim: Simulator, tmp_path: Path, user: dict[str, str], hidden: list[str]
) -> None:
    config = kubeconfig(tmp_path / "kubeconfig", server=sim.url, user=user)
    command = await RunCommand.start(config, "--namespace", NAMESPACE, "--log-level", "debug")
    try:
        failed = await command.wait_for_log(is_warning_about("namespaces"))
    finally:
        await command.stop()

    assert "Unauthorized" in failed["message"] or "forbidden" in failed["message"]
    for secret in hidden:
        assert_absent(secret, command.output, "the command's output")
    assert_absent(TOKEN, command.output, "the command's output")
