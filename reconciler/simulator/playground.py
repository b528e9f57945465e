"""``headless-reconciler simulate``: the simulated cluster alone, as a playground.

Users get a Kubernetes API they can point kubectl, ``diff`` and ``run`` at
without a cluster, and end-to-end checks get a stage anyone can start. The
world can be seeded through the API (so it looks exactly as a seeded real
cluster would), then the server runs until interrupted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from kubernetes_asyncio.client import ApiClient

from reconciler.simulator.controllers import DEFAULT_CONTROLLERS
from reconciler.simulator.simulator import Simulator


def usage(*, url: str, kubeconfig: Path) -> str:
    """What to tell the user once the playground is up."""
    return "\n".join(
        [
            f"Simulated Kubernetes API server listening on {url}",
            f"kubeconfig written to {kubeconfig}",
            "",
            "Try:",
            f"  export KUBECONFIG={kubeconfig}",
            "  kubectl get namespaces",
            "  kubectl get svc,endpointslices,serviceentries -A",
            "  kubectl apply --validate=false -f manifest.yaml   # no OpenAPI document is served",
            f"  headless-reconciler diff --kubeconfig {kubeconfig} -A",
            f"  headless-reconciler run --kubeconfig {kubeconfig}",
            "",
            "Press Ctrl-C to stop.",
        ]
    )


async def run_playground(
    *,
    port: int,
    kubeconfig_out: Path,
    seed_world: Callable[[ApiClient], Awaitable[None]] | None,
) -> None:
    """Start the simulator on ``port``, write the kubeconfig, seed, serve until cancelled."""
    # kubectl sends no bearer token over plain HTTP: requests without one act as admin.
    simulator = Simulator(controllers=DEFAULT_CONTROLLERS, anonymous_is_admin=True)
    await simulator.start(port=port)
    try:
        path = simulator.write_kubeconfig(kubeconfig_out)
        if seed_world is not None:
            async with simulator.api_client() as api:
                await seed_world(api)
        print(usage(url=simulator.url, kubeconfig=path), flush=True)
        await asyncio.Event().wait()
    finally:
        await simulator.stop()
