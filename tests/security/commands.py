"""``headless-reconciler run`` as an operator starts it, and a small world for it to repair.

The security checks of the real process (no file writes, no secret in its
output) need the command line, not the pipeline in-process: its logging set
up by the CLI, its kubeconfig loaded by the client library, its own
interpreter. :class:`RunCommand` starts it, collects every line it prints on
stdout and stderr, and lets a test wait for a line (the JSON log says when the
caches synced and on which port the endpoints listen) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import ApiClient, CustomObjectsApi

from reconciler.planning.references import SERVICE_ANNOTATION
from reconciler.testbed.statefulsets import StatefulPodSet, ensure_namespace
from reconciler.testbed.waiting import wait_for_ready_addresses, watch_until

WAIT = 10.0
"""Seconds any single wait may take."""
NAMESPACE = "shop"
STALE_ADDRESS = "10.244.250.250"
ISTIO = ("networking.istio.io", "v1")

JsonObject = dict[str, Any]


class RunCommand:
    """One ``python -m reconciler run`` child process and everything it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._printed = asyncio.Condition()
        assert process.stdout is not None
        assert process.stderr is not None
        self._readers = [
            asyncio.create_task(self._collect(process.stdout, self.stdout)),
            asyncio.create_task(self._collect(process.stderr, self.stderr)),
        ]

    @classmethod
    async def start(
        cls,
        kubeconfig: Path,
        *args: str,
        environment: Mapping[str, str] = {},
        cwd: Path | None = None,
        python: Sequence[str] = ("-m", "reconciler"),
    ) -> RunCommand:
        """``run --kubeconfig <kubeconfig> <args>``, JSON logs, endpoints on a free port."""
        env = {
            **os.environ,
            "HEADLESS_RECONCILER_METRICS_ADDRESS": "127.0.0.1:0",
            "HEADLESS_RECONCILER_LOG_FORMAT": "json",
            **environment,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *python,
            "run",
            "--kubeconfig",
            str(kubeconfig),
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        return cls(process)

    @property
    def output(self) -> str:
        """Everything printed so far, stdout then stderr."""
        return "\n".join([*self.stdout, *self.stderr])

    def logged(self) -> list[JsonObject]:
        """The JSON log lines printed so far (other lines skipped)."""
        found = []
        for line in self.stderr:
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    found.append(entry)
        return found

    async def wait_for_log(
        self, matches: Callable[[JsonObject], bool], *, within: float = WAIT
    ) -> JsonObject:
        """The first JSON log line for which ``matches`` holds, waiting for it if need be."""

        def found() -> JsonObject | None:
            return next((entry for entry in self.logged() if matches(entry)), None)

        try:
            async with asyncio.timeout(within), self._printed:
                await self._printed.wait_for(
                    lambda: found() is not None or self.process.returncode is not None
                )
        except TimeoutError:
            raise AssertionError(f"not logged in {within}s:\n{self.output[-3000:]}") from None
        entry = found()
        assert entry is not None, f"the command ended:\n{self.output[-3000:]}"
        return entry

    async def endpoint_url(self) -> str:
        """Where ``/metrics``, ``/healthz`` and ``/readyz`` listen, from the start-up line."""
        started = await self.wait_for_log(lambda e: str(e["message"]).startswith("starting in"))
        return "http://" + str(started["message"]).rsplit(" on ", 1)[1]

    async def stop(self) -> int:
        """SIGTERM, then the exit code once the process and its output have ended."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), WAIT)
        await asyncio.wait_for(asyncio.gather(*self._readers), WAIT)
        return code

    async def _collect(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        async for raw in stream:
            async with self._printed:
                into.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._printed.notify_all()
        async with self._printed:
            self._printed.notify_all()


async def web_world(api: ApiClient) -> list[str]:
    """Namespace ``shop``: pods web-0 and web-1 behind headless ``web``, and a stale entry.

    ServiceEntry ``web-all`` (annotated to follow ``web``) lists web-0 and an
    address no pod has; returns the addresses it should list once repaired.
    """
    await ensure_namespace(api, NAMESPACE)
    pods = StatefulPodSet(api, name="web", namespace=NAMESPACE, wait_within=WAIT)
    await pods.create(2)
    await wait_for_ready_addresses(
        api, namespace=NAMESPACE, service="web", expected=pods.ready_addresses(), within=WAIT
    )
    wanted = [pod.addresses[0] for pod in pods.pods]
    custom: Any = CustomObjectsApi(api)
    await custom.create_namespaced_custom_object(
        *ISTIO,
        NAMESPACE,
        "serviceentries",
        {
            "apiVersion": "/".join(ISTIO),
            "kind": "ServiceEntry",
            "metadata": {"name": "web-all", "annotations": {SERVICE_ANNOTATION: "web"}},
            "spec": {
                "hosts": [f"web.{NAMESPACE}.svc.cluster.local"],
                "location": "MESH_INTERNAL",
                "resolution": "STATIC",
                "ports": [{"number": 8080, "name": "http", "protocol": "HTTP"}],
                "endpoints": [{"address": wanted[0]}, {"address": STALE_ADDRESS}],
            },
        },
    )
    return wanted


async def wait_for_repair(api: ApiClient, wanted: list[str], *, within: float = WAIT) -> None:
    """Until ``web-all`` lists exactly ``wanted``."""
    custom: Any = CustomObjectsApi(api)

    def repaired(entries: list[JsonObject]) -> bool:
        return any(
            [e["address"] for e in entry["spec"].get("endpoints") or []] == wanted
            for entry in entries
        )

    await watch_until(
        functools.partial(
            custom.list_namespaced_custom_object, *ISTIO, NAMESPACE, "serviceentries"
        ),
        repaired,
        within=within,
        what="ServiceEntry shop/web-all repaired",
        field_selector="metadata.name=web-all",
    )
