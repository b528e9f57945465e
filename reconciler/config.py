"""Configuration: flags and ``HEADLESS_RECONCILER_*`` variables, validated before anything runs.

Every command builds one settings object from its flags (which win) and the
environment, and a bad value stops the command with one sentence naming the
flag, the value and what is expected, before any request is sent (SPEC
section 5).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from reconciler.leadership.settings import LeadershipSettings
from reconciler.planning.settings import (
    DEFAULT_PAIRED_NAME_TEMPLATE,
    PlanningSettings,
    parse_allow_cross_namespace,
)
from reconciler.reporting.selectors import label_selector_problem

ENV_PREFIX = "HEADLESS_RECONCILER_"

S = TypeVar("S", bound=BaseSettings)

_TEMPLATE_TEXT = re.compile(r"[-a-z0-9]*")
"""What a paired name template may hold besides ``{name}``."""


class ConfigError(ValueError):
    """A configuration value is wrong; the message is one sentence naming the flag."""


FLAGS = {
    "namespaces": "--namespace",
    "removal_grace_seconds": "--removal-grace",
    "resync_seconds": "--resync",
}
"""Fields whose flag is not simply the field's name with dashes."""


def flag_name(field: str) -> str:
    return FLAGS.get(field, "--" + field.replace("_", "-"))


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


class CrossNamespaceSettings(BaseSettings):
    """Which namespace pairs may reference each other (``--allow-cross-namespace FROM=TO``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    allow_cross_namespace: tuple[str, ...] = ()

    @field_validator("allow_cross_namespace", mode="before")
    @classmethod
    def _split_pairs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = (value,)
        parse_allow_cross_namespace(value)
        return tuple(value)


class PairingSettings(BaseSettings):
    """How paired Services are named: ``diff`` must name them exactly as ``run`` does."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    paired_name_template: str = DEFAULT_PAIRED_NAME_TEMPLATE
    """The name of a paired Service asked for with ``"true"``; ``{name}`` is the headless one."""

    @field_validator("paired_name_template")
    @classmethod
    def _template(cls, value: str) -> str:
        if "{name}" not in value:
            raise ValueError("must contain {name}, e.g. {name}-grpc")
        try:
            value.format(name="x")
        except (KeyError, IndexError, ValueError) as error:
            raise ValueError(f"only {{name}} may be used ({error})") from None
        if not _TEMPLATE_TEXT.fullmatch(value.replace("{name}", "")):
            raise ValueError(
                "may add only lowercase letters, digits and '-' to {name}, "
                "so that it names a Service, e.g. {name}-grpc"
            )
        return value


LogFormat = Literal["auto", "json", "text"]


class RunSettings(
    ConnectionSettings,
    ScopeSettings,
    CrossNamespaceSettings,
    PairingSettings,
    LeadershipSettings,
):
    """Everything ``headless-reconciler run`` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    dry_run: bool = False
    server_dry_run: bool = False
    resync_seconds: Annotated[float, Field(gt=0)] = 300.0
    removal_grace_seconds: Annotated[float, Field(ge=0)] = 30.0
    workers: Annotated[int, Field(ge=1, le=64)] = 4
    metrics_address: str = ":8080"
    log_format: LogFormat = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

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
            paired_name_template=self.paired_name_template,
        )


OutputFormat = Literal["text", "json"]


class ReportSettings(ConnectionSettings, ScopeSettings, CrossNamespaceSettings, PairingSettings):
    """What the one-shot, read-only commands (``diff``, ``audit``) share."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    all_namespaces: bool = False
    """Explicitly every namespace (the default); excludes ``--namespace``."""
    selector: str | None = None
    """Label selector for the ServiceEntries and WorkloadEntries looked at."""
    output: OutputFormat = "text"

    @field_validator("selector")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        problem = label_selector_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value.strip()

    @model_validator(mode="after")
    def _one_scope(self) -> ReportSettings:
        if self.all_namespaces and self.namespaces:
            raise ValueError("--all-namespaces and --namespace exclude each other")
        return self

    def planning(self) -> PlanningSettings:
        """What the pure planner needs from this configuration."""
        return PlanningSettings(
            cluster_domain=self.cluster_domain,
            allow_cross_namespace=parse_allow_cross_namespace(self.allow_cross_namespace),
            namespaces=frozenset(self.namespaces),
            paired_name_template=self.paired_name_template,
        )


class DiffSettings(ReportSettings):
    """Everything ``headless-reconciler diff`` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    removal_grace_seconds: Annotated[float, Field(ge=0)] = 30.0
    """As for ``run``: with 0, a mass removal is a change, not a hold."""

    def planning(self) -> PlanningSettings:
        return dataclasses.replace(super().planning(), removal_grace=self.removal_grace_seconds)


class AuditSettings(ReportSettings):
    """Everything ``headless-reconciler audit`` needs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)


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
    if isinstance(value, Path):
        value = str(value)
    shown = f" {value!r}" if value is not None and not isinstance(value, dict) else ""
    variable = ENV_PREFIX + field.upper()
    return f"{flag_name(field)} (or {variable}){shown}: {message}."
