"""The one place that talks to the Kubernetes API.

kubernetes-asyncio does what it is good at: reading a kubeconfig (file and
context, ``KUBECONFIG``) or the in-cluster service account into a
``Configuration``, and owning the ``ApiClient`` whose aiohttp session carries
TLS, bearer tokens and their refresh. Every request still goes through that
``ApiClient.call_api``, but with ``_preload_content=False``: bodies come back
as raw bytes and are decoded by msgspec into compact projections, never into
the generated models, which are far too slow for watch traffic (SPEC section 8).

Here, and only here:

- kubernetes-asyncio's and aiohttp's exceptions become the project's own
  (:func:`_translate`; non-2xx answers go through
  :func:`~reconciler.api.errors.error_from_response`), with the credentials
  the request carried redacted from whatever the answer quotes
  (:func:`credentials_of`: read at the time of the error, so a token an exec
  plugin renewed since start-up is redacted too);
- failed requests are retried, under :class:`~reconciler.api.retrying.RetryPolicy`;
- every HTTP request is counted through an optional observer (metrics live
  elsewhere, so this module does not import them).

Watch streams are not retried here: resuming a watch needs the last
resourceVersion seen, which only the watcher knows, so it owns that loop.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType
from typing import Any, Self

import aiohttp
import msgspec
import yaml
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.client.exceptions import ApiException
from kubernetes_asyncio.config import ConfigException, load_incluster_config, load_kube_config

from reconciler import __version__
from reconciler.api.errors import (
    NO_RESPONSE,
    ApiError,
    PermanentError,
    TransientError,
    WriteFencedError,
    error_from_response,
    redact,
)
from reconciler.api.ratelimit import TokenBucket
from reconciler.api.resources import P, Resource
from reconciler.api.retrying import RetryPolicy

FIELD_MANAGER = "headless-reconciler"
USER_AGENT = f"headless-reconciler/{__version__}"
NO_ANSWER_CODE = "<error>"
"""The ``code`` reported to the request observer when no HTTP answer arrived."""

_DEFAULT_KUBECONFIG = "~/.kube/config"
_WATCH_READ_MARGIN = 30.0
"""Seconds past ``timeoutSeconds`` after which a silent watch connection is presumed dead."""
_SHORTEST_SECRET = 8
"""Shorter values are not redacted: no real token is that short, and any word might be."""

RequestObserver = Callable[[str, str, str], None]
"""Called once per HTTP request with ``(verb, resource, code)``; code is the status as text."""

_LIBRARY_ERRORS = (ApiException, aiohttp.ClientError, TimeoutError, ConnectionError)


class PatchType(StrEnum):
    """The ``Content-Type`` of a PATCH, which says how the server applies it."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC_MERGE = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"


class PropagationPolicy(StrEnum):
    BACKGROUND = "Background"
    FOREGROUND = "Foreground"
    ORPHAN = "Orphan"


@dataclass(frozen=True, slots=True)
class Preconditions:
    """Delete only the object with this uid and/or at this resourceVersion (409 otherwise)."""

    uid: str | None = None
    resource_version: str | None = None


class KubeConfigError(Exception):
    """No usable cluster configuration (kubeconfig or in-cluster service account)."""


async def load_configuration(
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Configuration:
    """The cluster to talk to, found the way controller-runtime looks for it.

    In order: ``kubeconfig`` (a path, as ``--kubeconfig`` gives it), then
    ``KUBECONFIG`` (a list of paths), then the in-cluster service account when
    running in a pod, then ``~/.kube/config``. ``context`` picks a kubeconfig
    context other than the current one.
    """
    configuration = Configuration()
    source = kubeconfig or environ.get("KUBECONFIG")
    try:
        if not source and environ.get("KUBERNETES_SERVICE_HOST"):
            load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            loader = await load_kube_config(
                config_file=source or _DEFAULT_KUBECONFIG,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            configuration.refresh_api_key_hook = _exec_token_refresher(loader)
    except (ConfigException, OSError, yaml.YAMLError) as error:
        raise KubeConfigError(f"cannot load the cluster configuration: {error}") from error
    except (TypeError, ValueError, AttributeError, KeyError) as error:
        # A kubeconfig that parses as YAML but is not shaped like one.
        raise KubeConfigError(
            f"cannot load the cluster configuration: the kubeconfig is malformed ({error})"
        ) from error
    return configuration


def _exec_token_refresher(loader: Any) -> Callable[[Configuration], Awaitable[None]]:
    """Renew a kubeconfig exec-plugin token (EKS, GKE, OIDC helpers) once it expires.

    The library refreshes the in-cluster token by itself, but for kubeconfig
    users it only offers a background polling task. This hook runs before
    every request instead and costs nothing until the token's
    ``expirationTimestamp`` passes, when the loader runs the plugin again.
    """

    async def refresh(configuration: Configuration) -> None:
        if getattr(loader, "exec_plugin_expiry", None) is None:
            return
        await loader.load_from_exec_plugin()
        configuration.api_key["BearerToken"] = loader.token

    return refresh


def credentials_of(configuration: Configuration) -> tuple[str, ...]:
    """The secrets requests carry now, in every form an answer might quote them.

    Each ``Authorization`` value, the credential without its scheme, and for
    basic auth the password inside it.
    """
    found: set[str] = set()
    for value in configuration.api_key.values():
        header = str(value).strip()
        scheme, _, credential = header.rpartition(" ")
        found.update((header, credential))
        if scheme.lower() == "basic":
            found.add(_basic_password(credential))
    if configuration.password:
        found.add(str(configuration.password))
    return tuple(secret for secret in found if len(secret) >= _SHORTEST_SECRET)


def _basic_password(credential: str) -> str:
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
WriteGate = Callable[[Resource[Any]], bool]
"""May a write to this resource leave now? (Leader election's fence: the Lease itself is exempt.)"""


def delete_options(
    *,
    propagation_policy: PropagationPolicy | None = None,
    preconditions: Preconditions | None = None,
) -> dict[str, Any]:
    """The ``DeleteOptions`` body of a DELETE (``diff -o json`` prints the same one)."""
    options: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions"}
    if propagation_policy is not None:
        options["propagationPolicy"] = str(propagation_policy)
    if preconditions is not None:
        options["preconditions"] = _query_dict(
            uid=preconditions.uid, resourceVersion=preconditions.resource_version
        )
    return options


class KubeClient:
    """Typed, retrying access to the API; one per process, created inside the event loop."""

    def __init__(
        self,
        configuration: Configuration,
        *,
        field_manager: str = FIELD_MANAGER,
        user_agent: str = USER_AGENT,
        retry_policy: RetryPolicy | None = None,
        request_timeout: float = 60.0,
        on_request: RequestObserver | None = None,
        rate_limit: TokenBucket | None = None,
        write_gate: WriteGate | None = None,
    ) -> None:
        self._api = ApiClient(configuration)
        self._rate_limit = rate_limit
        self.write_gate = write_gate
        """Asked right before a write leaves, after any wait for the rate limit (leader fence)."""
        self._api.user_agent = user_agent
        self.field_manager = field_manager
        self._retry = retry_policy or RetryPolicy()
        self._request_timeout = request_timeout
        self._on_request = on_request

    async def close(self) -> None:
        await self._api.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    # -- reading ---------------------------------------------------------------------------------

    async def list_page(
        self,
        resource: Resource[P],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
        resource_version: str | None = None,
    ) -> bytes:
        """One page of a LIST, as the server's raw JSON."""
        query = _query(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=str(limit) if limit is not None else None,
            resourceVersion=resource_version,
            **{"continue": continue_token or None},
        )
        return await self._exchange(
            "list", resource, "GET", resource.path(namespace=namespace), query
        )

    async def stream_watch(
        self,
        resource: Resource[P],
        *,
        namespace: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 300,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncGenerator[bytes, None]:
        """The lines of a WATCH, one raw JSON event each, until the server ends the stream.

        A broken stream raises :class:`TransientError`; nothing is retried here.
        Iterate under ``contextlib.aclosing`` so the connection is closed when
        the consumer stops early.
        """
        query = _query(
            watch="true",
            resourceVersion=resource_version,
            allowWatchBookmarks="true" if allow_bookmarks else None,
            timeoutSeconds=str(timeout_seconds),
            labelSelector=label_selector,
            fieldSelector=field_selector,
        )
        timeout = aiohttp.ClientTimeout(
            sock_connect=self._request_timeout, sock_read=timeout_seconds + _WATCH_READ_MARGIN
        )
        path = resource.path(namespace=namespace)
        response = await self._send("watch", resource, "GET", path, query, client_timeout=timeout)
        try:
            async for line in _lines(response.content):
                yield line
        except _LIBRARY_ERRORS as error:
            raise self._translate(error) from error
        finally:
            if response.content.at_eof():
                response.release()
            else:
                response.close()

    async def get(self, resource: Resource[P], namespace: str | None, name: str) -> P:
        path = resource.path(namespace=namespace, name=name)
        return resource.decode(await self._exchange("get", resource, "GET", path, []))

    # -- writing ---------------------------------------------------------------------------------

    async def create(
        self, resource: Resource[P], namespace: str | None, body: Any, *, dry_run: bool = False
    ) -> P:
        query = self._write_query(dry_run=dry_run)
        path = resource.path(namespace=namespace)
        payload = await self._exchange("create", resource, "POST", path, query, body=body)
        return resource.decode(payload)

    async def replace(
        self,
        resource: Resource[P],
        namespace: str | None,
        name: str,
        body: Any,
        *,
        dry_run: bool = False,
        subresource: str = "",
    ) -> P:
        query = self._write_query(dry_run=dry_run)
        path = resource.path(namespace=namespace, name=name, subresource=subresource)
        payload = await self._exchange("update", resource, "PUT", path, query, body=body)
        return resource.decode(payload)

    async def patch(
        self,
        resource: Resource[P],
        namespace: str | None,
        name: str,
        body: Any,
        *,
        content_type: PatchType,
        dry_run: bool = False,
        field_manager: str | None = None,
        force: bool = False,
        subresource: str = "",
    ) -> P:
        """PATCH an object; ``force`` only means something for server-side apply."""
        query = self._write_query(dry_run=dry_run, field_manager=field_manager)
        query += _query(force="true" if force else None)
        path = resource.path(namespace=namespace, name=name, subresource=subresource)
        payload = await self._exchange(
            "patch", resource, "PATCH", path, query, body=body, content_type=content_type
        )
        return resource.decode(payload)

    async def delete(
        self,
        resource: Resource[P],
        namespace: str | None,
        name: str,
        *,
        propagation_policy: PropagationPolicy | None = None,
        preconditions: Preconditions | None = None,
        dry_run: bool = False,
    ) -> None:
        """DELETE an object; its answer (the object, or a Status for a CR) is dropped."""
        options = delete_options(propagation_policy=propagation_policy, preconditions=preconditions)
        query = _query(dryRun="All" if dry_run else None)
        path = resource.path(namespace=namespace, name=name)
        await self._exchange("delete", resource, "DELETE", path, query, body=options)

    def _write_query(
        self, *, dry_run: bool, field_manager: str | None = None
    ) -> list[tuple[str, str]]:
        return _query(
            dryRun="All" if dry_run else None, fieldManager=field_manager or self.field_manager
        )

    # -- transport -------------------------------------------------------------------------------

    async def _exchange(
        self,
        verb: str,
        resource: Resource[Any],
        method: str,
        path: str,
        query: list[tuple[str, str]],
        *,
        body: Any = None,
        content_type: str = "application/json",
    ) -> bytes:
        """One request and its whole answer, retried under the policy."""
        timeout = aiohttp.ClientTimeout(total=self._request_timeout)

        async def attempt() -> bytes:
            response = await self._send(
                verb,
                resource,
                method,
                path,
                query,
                body=body,
                content_type=content_type,
                client_timeout=timeout,
            )
            try:
                return await response.read()
            except _LIBRARY_ERRORS as error:
                raise self._translate(error) from error
            finally:
                response.release()

        return await self._retry.call(attempt)

    async def _send(
        self,
        verb: str,
        resource: Resource[Any],
        method: str,
        path: str,
        query: list[tuple[str, str]],
        *,
        client_timeout: aiohttp.ClientTimeout,
        body: Any = None,
        content_type: str = "application/json",
    ) -> aiohttp.ClientResponse:
        """Send one request; a 2xx answer is returned unread, anything else is raised."""
        if self._rate_limit is not None:
            await self._rate_limit.acquire()
        if verb in WRITE_VERBS and self.write_gate is not None and not self.write_gate(resource):
            raise WriteFencedError
        try:
            response: aiohttp.ClientResponse = await self._api.call_api(
                path,
                method,
                query_params=query,
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=msgspec.to_builtins(body) if body is not None else None,
                auth_settings=["BearerToken"],
                _preload_content=False,
                _request_timeout=client_timeout,
            )
        except _LIBRARY_ERRORS as error:
            self._observe(verb, resource, NO_ANSWER_CODE)
            raise self._translate(error) from error
        self._observe(verb, resource, str(response.status))
        if 200 <= response.status < 300:
            return response
        try:
            payload = await response.read()
        except _LIBRARY_ERRORS as error:
            raise self._translate(error) from error
        finally:
            response.release()
        raise error_from_response(
            response.status,
            payload,
            retry_after=response.headers.get("Retry-After"),
            secrets=credentials_of(self._api.configuration),
        )

    def _translate(self, error: BaseException) -> ApiError:
        return _translate(error, secrets=credentials_of(self._api.configuration))

    def _observe(self, verb: str, resource: Resource[Any], code: str) -> None:
        if self._on_request is not None:
            self._on_request(verb, resource.label, code)


def _translate(error: BaseException, *, secrets: tuple[str, ...]) -> ApiError:
    """The one place where kubernetes-asyncio's and aiohttp's exceptions become ours."""
    if isinstance(error, ApiException):
        if error.status:
            body = error.body if isinstance(error.body, bytes) else str(error.body or "").encode()
            headers: Mapping[str, str] = error.headers or {}
            return error_from_response(
                error.status, body, retry_after=headers.get("Retry-After"), secrets=secrets
            )
        message = redact(str(error.reason), secrets)
        return PermanentError(code=NO_RESPONSE, reason="ClientError", message=message)
    if isinstance(error, aiohttp.InvalidURL | aiohttp.ClientConnectorCertificateError):
        message = redact(str(error), secrets)
        return PermanentError(code=NO_RESPONSE, reason=type(error).__name__, message=message)
    if isinstance(error, TimeoutError):
        return TransientError(
            code=NO_RESPONSE, reason="Timeout", message=str(error) or "the request timed out"
        )
    return TransientError(
        code=NO_RESPONSE,
        reason="ConnectionError",
        message=redact(str(error), secrets) or type(error).__name__,
    )


async def _lines(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """Split a stream at newlines, whatever the size of a line or of a chunk."""
    buffer = bytearray()
    async for chunk in content.iter_any():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            if end > start:
                yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
    if buffer.strip():
        yield bytes(buffer)


def _query(**params: str | None) -> list[tuple[str, str]]:
    return [(key, value) for key, value in params.items() if value is not None]


def _query_dict(**params: str | None) -> dict[str, str]:
    return {key: value for key, value in params.items() if value is not None}
