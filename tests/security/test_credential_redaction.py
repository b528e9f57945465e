"""The client's errors never carry the credentials it sent, even when the server echoes them.

kube-apiserver does not quote a request's ``Authorization`` header back, but
what sits in front of it may: an authenticating proxy's error page, a
debugging gateway, a webhook quoting the request in its denial. The
client's errors are logged, counted and written into Events word for word,
so whatever the answer says about our credentials must be redacted where the
answer becomes an error (``reconciler.api``), for bearer tokens (from a
kubeconfig, or renewed by an exec plugin since) and for basic auth alike.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml
from aiohttp import web
from kubernetes_asyncio.client import Configuration

from reconciler.api.client import KubeClient, PatchType, load_configuration
from reconciler.api.errors import (
    REDACTED,
    ApiError,
    ForbiddenError,
    InvalidError,
    TransientError,
    UnauthorizedError,
    error_from_response,
)
from reconciler.api.resources import SERVICE_ENTRIES, SERVICES
from reconciler.api.retrying import RetryPolicy

TOKEN = "echoed-bearer-token-6d1c0f9b2e"
USER, PASSWORD = "admin", "echoed-password-47a1"

Echo = Callable[[str], web.Response]
"""Builds the server's answer from the Authorization header it received."""


def plain_401(authorization: str) -> web.Response:
    return web.Response(status=401, text=f"Unauthorized: bad credentials {authorization!r}\n")


def status_500(authorization: str) -> web.Response:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 500,
        "reason": "InternalError",
        "message": f"proxy could not forward request with Authorization: {authorization}",
    }
    return web.json_response(status, status=500)


def status_422(authorization: str) -> web.Response:
    status = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "code": 422,
        "reason": "Invalid",
        "message": "admission webhook denied the request",
        "details": {
            "causes": [
                {
                    "reason": "FieldValueForbidden",
                    "message": f"request header {authorization} not allowed",
                    "field": "metadata.annotations",
                }
            ]
        },
    }
    return web.json_response(status, status=422)


def status_403(authorization: str) -> web.Response:
    raw = authorization.rpartition(" ")[2]
    message = f'User "{raw}" cannot patch resource "serviceentries"'
    return web.json_response(
        {"kind": "Status", "code": 403, "reason": "Forbidden", "message": message}, status=403
    )


@pytest.fixture
def echo() -> list[Echo]:
    """The answers to give, in order; the last one repeats."""
    return [plain_401]


@pytest.fixture
async def echo_url(echo: list[Echo]) -> AsyncIterator[str]:
    async def answer(request: web.Request) -> web.Response:
        respond = echo.pop(0) if len(echo) > 1 else echo[0]
        return respond(request.headers.get("Authorization", ""))

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def kubeconfig(path: Path, server: str, user: dict[str, str]) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "echo", "cluster": {"server": server}}],
                "users": [{"name": "echo", "user": user}],
                "contexts": [{"name": "echo", "context": {"cluster": "echo", "user": "echo"}}],
                "current-context": "echo",
            }
        )
    )
    return path


async def _no_sleep(delay: float) -> None:
    del delay


async def configuration_for(tmp_path: Path, server: str, user: dict[str, str]) -> Configuration:
    return await load_configuration(
        kubeconfig=str(kubeconfig(tmp_path / "kubeconfig", server, user)), environ={}
    )


def client(configuration: Configuration) -> KubeClient:
    return KubeClient(configuration, retry_policy=RetryPolicy(sleep=_no_sleep, random=lambda: 0))


def everything_said(error: ApiError) -> str:
    """All the text an error can be rendered with: str, repr, fields, causes."""
    parts = [str(error), repr(error), error.reason, error.message]
    if isinstance(error, InvalidError):
        parts += [json.dumps([cause.message for cause in error.causes])]
    return "\n".join(parts)


BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = {"bearer": (TOKEN,), "basic": (PASSWORD, BASIC)}
USERS = {"bearer": {"token": TOKEN}, "basic": {"username": USER, "password": PASSWORD}}


@pytest.mark.parametrize("credentials", ["bearer", "basic"])
@pytest.mark.parametrize(
    ("answers", "raised"),
    [
        ([plain_401], UnauthorizedError),
        ([status_500], TransientError),
        ([status_422], InvalidError),
        ([status_403], ForbiddenError),
    ],
    ids=["401 text", "500 Status", "422 causes", "403 Status"],
)
async def test_an_echo_of_the_credentials_is_redacted_from_the_error(
    tmp_path: Path,
    echo: list[Echo],
    echo_url: str,
    credentials: str,
    answers: list[Echo],
    raised: type[ApiError],
) -> None:
    echo[:] = answers
    configuration = await configuration_for(tmp_path, echo_url, USERS[credentials])
    async with client(configuration) as kube:
        with pytest.raises(raised) as caught:
            await kube.patch(
                SERVICE_ENTRIES, "shop", "web", {"spec": {}}, content_type=PatchType.MERGE
            )

    said = everything_said(caught.value)
    for secret in SECRETS[credentials]:
        assert secret not in said
    assert REDACTED in said


async def test_a_token_renewed_after_the_client_was_built_is_redacted_too(
    tmp_path: Path, echo_url: str
) -> None:
    renewed = "renewed-exec-plugin-token-93b7"
    configuration = await configuration_for(tmp_path, echo_url, USERS["bearer"])
    async with client(configuration) as kube:
        configuration.api_key["BearerToken"] = f"Bearer {renewed}"
        with pytest.raises(UnauthorizedError) as caught:
            await kube.get(SERVICES, "shop", "web")

    assert renewed not in everything_said(caught.value)
    assert TOKEN not in everything_said(caught.value)


def test_error_text_without_credentials_is_left_as_the_server_wrote_it() -> None:
    body = b'{"code": 409, "reason": "Conflict", "message": "the object has been modified"}'

    error = error_from_response(409, body, secrets=(TOKEN,))

    assert error.message == "the object has been modified"
