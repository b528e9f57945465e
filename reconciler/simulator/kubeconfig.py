"""Credentials for the simulator, as a kubeconfig file and as ready client objects.

kubectl, ``headless-reconciler diff`` and ``run`` all take a kubeconfig, so the
simulator writes an ordinary one (server URL plus a bearer-token user) and the
same code path works against a real cluster. Tests skip the file and build a
kubernetes-asyncio ``Configuration``/``ApiClient`` directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes_asyncio.client import ApiClient, Configuration

CLUSTER_NAME: Final = "headless-reconciler-simulator"
CONTEXT_NAME: Final = "simulator"
USER_NAME: Final = "admin"


def kubeconfig_document(*, server: str, token: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CLUSTER_NAME, "cluster": {"server": server}}],
        "users": [{"name": USER_NAME, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT_NAME,
                "context": {"cluster": CLUSTER_NAME, "user": USER_NAME, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT_NAME,
        "preferences": {},
    }


def write_kubeconfig(path: Path, *, server: str, token: str) -> Path:
    """Write a kubeconfig (mode 0600, it holds a token) and return its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        yaml.safe_dump(kubeconfig_document(server=server, token=token), sort_keys=False)
    )
    path.chmod(0o600)
    return path


def client_configuration(*, server: str, token: str) -> Configuration:
    """A kubernetes-asyncio ``Configuration`` equivalent to loading the kubeconfig."""
    configuration = Configuration(host=server)
    configuration.api_key = {"BearerToken": f"Bearer {token}"}
    return configuration


def api_client(*, server: str, token: str) -> ApiClient:
    """An ``ApiClient`` for the simulator; close it (``async with``) when done."""
    return ApiClient(configuration=client_configuration(server=server, token=token))
