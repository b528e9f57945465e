"""A paired Service can only ever be named in its headless Service's own namespace.

The twin is created beside its source (an ownerReference cannot cross
namespaces), so no value of ``headless-reconciler.io/grpc-service`` and no
``--paired-name-template`` may name a Service elsewhere, or anything that is
not a Service name. The end-to-end check (nothing written in the other
namespace, a Refused Event) is in
``tests/e2e/security/test_cross_namespace_refusals.py``; this is the rule's
table, at the planner's edge and at start-up.
"""

from __future__ import annotations

import pytest

from reconciler.config import ConfigError, RunSettings, build
from reconciler.planning.pairing import asked_name
from reconciler.planning.plans import Verdict
from reconciler.planning.scope import Refusal
from reconciler.planning.settings import DEFAULT_PAIRED_NAME_TEMPLATE


@pytest.mark.parametrize(
    "value",
    [
        "other/web-grpc",
        "other/",
        "/web-grpc",
        "../web-grpc",
        "./web-grpc",
        "a/b/c",
        "web-grpc.other",
        "web-grpc.other.svc.cluster.local",
        "Web-Grpc",
        "web_grpc",
        "-web-grpc",
        "x" * 64,
        "web",
    ],
)
def test_an_annotation_value_that_is_not_a_service_name_here_is_refused(value: str) -> None:
    asked = asked_name(value, source="web", template=DEFAULT_PAIRED_NAME_TEMPLATE)

    assert isinstance(asked, Refusal)
    assert asked.verdict is Verdict.REFUSED


@pytest.mark.parametrize(
    ("value", "name"),
    [("true", "web-grpc"), (" TRUE ", "web-grpc"), ("web-h2", "web-h2"), ("false", None)],
)
def test_plain_names_and_the_template_are_asked_for_in_the_own_namespace(
    value: str, name: str | None
) -> None:
    assert asked_name(value, source="web", template=DEFAULT_PAIRED_NAME_TEMPLATE) == name


@pytest.mark.parametrize(
    "template", ["other/{name}", "{name}/grpc", "../{name}", "{name}.other", "{name}_grpc"]
)
def test_a_template_that_could_name_another_namespace_stops_the_start(template: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(RunSettings, paired_name_template=template)

    assert "paired" in str(raised.value) or "template" in str(raised.value)
