"""Where the client finds its cluster: --kubeconfig, KUBECONFIG, in-cluster, ~/.kube/config."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio.config import incluster_config

from reconciler.api.client import KubeClient, KubeConfigError, load_configuration
from reconciler.api.resources import SERVICES

TWO_CONTEXTS = {
    "a": ("http://127.0.0.1:1001", "token-a"),
    "b": ("http://127.0.0.1:1002", "token-b"),
}


async def test_an_explicit_kubeconfig_uses_its_current_context(
    tmp_path: Path, kubeconfig_writer: Any
) -> None:
    path = kubeconfig_writer(tmp_path / "config", TWO_CONTEXTS, "a")
    configuration = await load_configuration(kubeconfig=str(path), environ={})
    assert configuration.host == "http://127.0.0.1:1001"
    assert configuration.api_key["BearerToken"] == "Bearer token-a"


async def test_a_named_context_overrides_the_current_one(
    tmp_path: Path, kubeconfig_writer: Any
) -> None:
    path = kubeconfig_writer(tmp_path / "config", TWO_CONTEXTS, "a")
    configuration = await load_configuration(kubeconfig=str(path), context="b", environ={})
    assert configuration.host == "http://127.0.0.1:1002"


async def test_kubeconfig_env_is_used_when_no_path_is_given_even_in_a_pod(
    tmp_path: Path, kubeconfig_writer: Any
) -> None:
    path = kubeconfig_writer(tmp_path / "config", TWO_CONTEXTS, "b")
    environ = {"KUBECONFIG": str(path), "KUBERNETES_SERVICE_HOST": "10.96.0.1"}
    configuration = await load_configuration(environ=environ)
    assert configuration.host == "http://127.0.0.1:1002"


async def test_in_a_pod_the_service_account_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("sa-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    configuration = await load_configuration(environ={"KUBERNETES_SERVICE_HOST": "10.96.0.1"})
    assert configuration.host == "https://10.96.0.1:443"
    assert configuration.ssl_ca_cert == str(ca)
    assert await configuration.get_api_key_with_prefix("BearerToken") == "Bearer sa-token"


async def test_outside_a_pod_the_default_kubeconfig_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kubeconfig_writer: Any
) -> None:
    (tmp_path / ".kube").mkdir()
    kubeconfig_writer(tmp_path / ".kube" / "config", TWO_CONTEXTS, "a")
    monkeypatch.setenv("HOME", str(tmp_path))
    configuration = await load_configuration(environ={})
    assert configuration.host == "http://127.0.0.1:1001"


async def test_no_configuration_anywhere_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError, match="cannot load the cluster configuration"):
        await load_configuration(environ={})


async def test_an_unknown_context_is_a_clear_error(tmp_path: Path, kubeconfig_writer: Any) -> None:
    path = kubeconfig_writer(tmp_path / "config", TWO_CONTEXTS, "a")
    with pytest.raises(KubeConfigError):
        await load_configuration(kubeconfig=str(path), context="nope", environ={})


def exec_kubeconfig(tmp_path: Path, server: str, expiry: str) -> Path:
    """A kubeconfig whose user runs a credential plugin counting its own runs."""
    plugin = tmp_path / "plugin.py"
    counter = tmp_path / "runs"
    plugin.write_text(
        "import json, pathlib\n"
        f"counter = pathlib.Path({str(counter)!r})\n"
        "runs = int(counter.read_text()) + 1 if counter.exists() else 1\n"
        "counter.write_text(str(runs))\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
        "'kind': 'ExecCredential', "
        f"'status': {{'token': f'run-{{runs}}', 'expirationTimestamp': {expiry!r}}}}}))\n"
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [
            {
                "name": "u",
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1",
                        "command": sys.executable,
                        "args": [str(plugin)],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize(
    ("expiry", "tokens"),
    [
        ("2000-01-01T00:00:00Z", ["Bearer run-2", "Bearer run-3"]),
        ("2999-01-01T00:00:00Z", ["Bearer run-1", "Bearer run-1"]),
    ],
)
async def test_an_exec_plugin_token_is_renewed_only_once_expired(
    tmp_path: Path, wire_server: Any, expiry: str, tokens: list[str]
) -> None:
    path = exec_kubeconfig(tmp_path, wire_server.url, expiry)
    configuration = await load_configuration(kubeconfig=str(path), environ={})
    async with KubeClient(configuration) as client:
        await client.list_page(SERVICES, namespace="ns")
        await client.list_page(SERVICES, namespace="ns")
    assert [seen.headers["Authorization"] for seen in wire_server.seen] == tokens
