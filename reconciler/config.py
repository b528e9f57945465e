"""Configuration: flags and ``HEADLESS_RECONCILER_*`` variables, validated before anything runs.

Every command builds one settings object from its flags (which win) and the
environment, and a bad value stops the command with one sentence naming the
flag, the value and what is expected, before any request is sent (SPEC
section 5).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.planning.settings import PlanningSettings, parse_allow_cross_namespace

ENV_PREFIX = "HEADLESS_RECONCILER_"

S = TypeVar("S", bound=BaseSettings)


class ConfigError(ValueError):
    """A configuration value is wrong; the message is one sentence naming the flag."""


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


class ConnectionSettings(BaseSettings):
    """How to reach the API server: shared by every command that talks to a cluster."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    kubeconfig: Path | None = None
    """Kubeconfig file; default KUBECONFIG, then in-cluster, then ~/.kube/config."""
    context: str | None = None
    qps: Annotated[float, Field(gt=0)] = 20.0
    burst: Annotated[int, Field(ge=1)] = 30

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value


class ScopeSettings(BaseSettings):
    """Which namespaces a command looks at."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    namespaces: tuple[str, ...] = ()
    """Empty means all namespaces."""
    cluster_domain: str = "cluster.local"

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cluster_domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        labels = value.strip(".").split(".")
        if not all(label and label.replace("-", "").isalnum() for label in labels):
            raise ValueError("must be a DNS domain such as cluster.local")
        return value.strip(".")


LogFormat = Literal["auto", "json", "text"]


class RunSettings(ConnectionSettings, ScopeSettings):
    """Everything ``headless-reconciler run`` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    dry_run: bool = False
    server_dry_run: bool = False
    resync_seconds: Annotated[float, Field(gt=0)] = 300.0
    removal_grace_seconds: Annotated[float, Field(ge=0)] = 30.0
    allow_cross_namespace: tuple[str, ...] = ()
    paired_name_template: str = "{name}-grpc"
    workers: Annotated[int, Field(ge=1, le=64)] = 4
    metrics_address: str = ":8080"
    log_format: LogFormat = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("allow_cross_namespace", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = (value,)
        parse_allow_cross_namespace(value)
        return tuple(value)

    @field_validator("paired_name_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{name}" not in value:
            raise ValueError("must contain {name}, e.g. {name}-grpc")
        try:
            value.format(name="x")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"only {{name}} may be used ({error})") from None
        return value

    @field_validator("metrics_address")
    @classmethod
    def _address(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be [host]:port, e.g. :8080 or 127.0.0.1:9000")
        del host
        return value

    @model_validator(mode="after")
    def _modes(self) -> RunSettings:
        if self.dry_run and self.server_dry_run:
            raise ValueError("--dry-run and --server-dry-run exclude each other")
        return self

    def planning(self) -> PlanningSettings:
        """What the pure planner needs from this configuration."""
        return PlanningSettings(
            cluster_domain=self.cluster_domain,
            allow_cross_namespace=parse_allow_cross_namespace(self.allow_cross_namespace),
            removal_grace=self.removal_grace_seconds,
            namespaces=frozenset(self.namespaces),
        )


def build(settings_type: type[S], **flags: Any) -> S:
    """Settings from the given flags (None means "not given") over the environment.

    Raises :class:`ConfigError` with one sentence naming the first bad flag.
    """
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        return settings_type(**given)
    except ValidationError as error:
        raise ConfigError(describe(error)) from None


def describe(error: ValidationError) -> str:
    """The first problem as one sentence: flag (and variable), value, what is expected."""
    first = error.errors()[0]
    location = [str(part) for part in first.get("loc", ())]
    message = str(first.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ").removeprefix(
        flag_name(str(location[0])) + ": " if location else ""
    )
    if not location:
        return f"{message}."
    field = location[0]
    value = first.get("input")
    shown = f" {value!r}" if value is not None and not isinstance(value, dict) else ""
    variable = ENV_PREFIX + field.upper()
    return f"{flag_name(field)} (or {variable}){shown}: {message}."
