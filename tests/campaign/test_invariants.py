"""The campaign's invariants catch what they claim to: each one fed a write log that breaks it.

A check that passes everything proves nothing, so every invariant is shown
failing on a hand-written log (and passing on its lawful twin).
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.planning.references import POD_NAME_LABEL
from reconciler.simulator.store import WriteRecord
from reconciler.testbed.campaign import invariants
from reconciler.testbed.campaign.replicas import user_agent_of
from reconciler.testbed.campaign.world import APP, CampaignWorld, Key

SE = "networking.istio.io/serviceentries"
WEB_ALL: Key = ("serviceentries", APP, "web-all")
MANAGED = CampaignWorld.managed()


def write(
    resource: str,
    name: str,
    *,
    by: str | None = "replica-0",
    body: Any = None,
    verb: str = "patch",
    applied: bool = True,
    at: float = 100.0,
    namespace: str = APP,
) -> WriteRecord:
    return WriteRecord(
        verb=verb,
        resource=resource,
        namespace=namespace,
        name=name,
        code=200 if applied else 409,
        user_agent=user_agent_of(by) if by else "kubectl/v1.28",
        field_manager="",
        content_type="application/merge-patch+json",
        dry_run=False,
        applied=applied,
        resource_version=0,
        body=body,
        at=at,
    )


def lease(holder: str) -> WriteRecord:
    return write(
        "coordination.k8s.io/leases",
        "headless-reconciler",
        by=holder,
        verb="update",
        body={"spec": {"holderIdentity": holder}},
        namespace="camp-system",
    )


def endpoints(*pods: tuple[str, str], weight: int | None = None) -> dict[str, Any]:
    listed = []
    for pod, address in pods:
        endpoint: dict[str, Any] = {"address": address, "labels": {POD_NAME_LABEL: pod}}
        if weight is not None:
            endpoint["weight"] = weight
        listed.append(endpoint)
    return {"spec": {"endpoints": listed}}


def check(log: list[WriteRecord], **overrides: Any) -> list[str]:
    settings: dict[str, Any] = {
        "managed": MANAGED,
        "timeline": [(0.0, {WEB_ALL: 3})],
        "grace": 1.0,
        "changes": {WEB_ALL: 1},
        "since": 0,
        **overrides,
    }
    return [v.invariant for v in invariants.check(log, **settings)]


def test_a_write_to_an_object_nobody_opted_in_is_foreign_even_when_refused() -> None:
    log = [lease("replica-0"), write(SE, "legacy", applied=False)]
    assert check(log) == ["foreign"]
    assert check([lease("replica-0"), write(SE, "web-all")]) == []


def test_events_and_the_lease_are_not_foreign() -> None:
    log = [lease("replica-0"), write("events.k8s.io/events", "legacy.1", verb="create")]
    assert check(log) == []


def test_an_endpoint_written_without_its_users_weight_is_a_lost_field() -> None:
    seeded = write(SE, "web-all", by=None, verb="create", body=endpoints(("web-0", "a"), weight=7))
    kept = write(SE, "web-all", body=endpoints(("web-0", "b"), weight=7))
    lost = write(SE, "web-all", body=endpoints(("web-0", "c")))
    assert check([lease("replica-0"), seeded, kept]) == []
    assert check([lease("replica-0"), seeded, kept, lost]) == ["user-field"]


def test_a_colleagues_new_weight_is_what_must_be_kept_from_then_on() -> None:
    seeded = write(SE, "web-all", by=None, verb="create", body=endpoints(("web-0", "a"), weight=7))
    edited = write(SE, "web-all", by=None, body=endpoints(("web-0", "a"), weight=9))
    reverted = write(SE, "web-all", body=endpoints(("web-0", "b"), weight=7))
    assert check([lease("replica-0"), seeded, edited, reverted]) == ["user-field"]


@pytest.mark.parametrize(
    ("wanted_since", "violations"),
    [(99.5, ["guard"]), (98.0, [])],
    ids=["the-world-wanted-fewer-for-half-the-grace", "the-world-wanted-fewer-for-the-grace"],
)
def test_emptying_an_entry_needs_the_world_to_have_wanted_it_for_the_whole_grace(
    wanted_since: float, violations: list[str]
) -> None:
    seeded = write(
        SE, "web-all", by=None, verb="create", body=endpoints(("web-0", "a"), ("web-1", "b"))
    )
    emptied = write(SE, "web-all", body={"spec": {"endpoints": []}}, at=100.0)
    timeline = [(0.0, {WEB_ALL: 2}), (wanted_since, {WEB_ALL: 0})]
    assert check([lease("replica-0"), seeded, emptied], timeline=timeline) == violations


def test_removing_one_of_three_endpoints_is_not_a_mass_removal() -> None:
    seeded = write(
        SE,
        "web-all",
        by=None,
        verb="create",
        body=endpoints(("web-0", "a"), ("web-1", "b"), ("web-2", "c")),
    )
    shrunk = write(SE, "web-all", body=endpoints(("web-0", "a"), ("web-1", "b")))
    assert check([lease("replica-0"), seeded, shrunk]) == []


def test_a_write_by_a_replica_that_does_not_hold_the_lease_is_outside_its_term() -> None:
    log = [lease("replica-0"), lease("replica-1"), write(SE, "web-all", by="replica-0")]
    assert check(log) == ["term"]
    assert check([lease("replica-0"), write(SE, "web-all", by="replica-0")]) == []


def test_more_writes_than_the_changes_explain_break_the_bound() -> None:
    patches = [write(SE, "web-all") for _ in range(6)]
    assert check([lease("replica-0"), *patches], changes={WEB_ALL: 1}) == ["writes"]
    assert check([lease("replica-0"), *patches], changes={WEB_ALL: 2}) == []
