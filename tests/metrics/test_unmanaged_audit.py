"""Unmanaged staleness: the audit over the controller's own cache, at most once an interval."""

from __future__ import annotations

from reporting.audit_world import audit_world
from reporting.world import World, endpoint

from reconciler.drift import UnmanagedAudit
from reconciler.models.refs import Kind
from reconciler.planning.settings import PlanningSettings
from reconciler.runtime.cache import ClusterCache
from reconciler.watching import Applied

SHOP_SERVICE_ENTRIES = (Kind.SERVICE_ENTRY, "shop")
SHOP_WORKLOAD_ENTRIES = (Kind.WORKLOAD_ENTRY, "shop")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def add_stale_copy(cache: ClusterCache) -> None:
    """Another ServiceEntry, not opted in, holding an address no pod has."""
    world = World()
    world.service_entry("another-copy", endpoints=[endpoint("10.244.9.9")])
    cache.apply(Kind.SERVICE_ENTRY, Applied(world.service_entries[0]))


def test_stale_and_recycled_addresses_of_entries_nothing_repairs_are_counted() -> None:
    audit = UnmanagedAudit(audit_world().cache(), PlanningSettings())

    assert audit.counts() == {SHOP_SERVICE_ENTRIES: 2, SHOP_WORKLOAD_ENTRIES: 1}


def test_only_namespaces_in_scope_are_audited() -> None:
    audit = UnmanagedAudit(
        audit_world().cache(), PlanningSettings(namespaces=frozenset({"ledger"}))
    )

    assert audit.counts() == {}


def test_the_audit_runs_again_only_once_the_interval_has_passed() -> None:
    clock = Clock()
    cache = audit_world().cache()
    audit = UnmanagedAudit(cache, PlanningSettings(), interval=60.0, monotonic=clock)
    assert audit.counts()[SHOP_SERVICE_ENTRIES] == 2
    add_stale_copy(cache)

    clock.now = 59.0
    assert audit.counts()[SHOP_SERVICE_ENTRIES] == 2
    clock.now = 60.0
    assert audit.counts()[SHOP_SERVICE_ENTRIES] == 3


def test_nothing_is_counted_before_the_caches_have_listed() -> None:
    audit = UnmanagedAudit(ClusterCache(), PlanningSettings())

    assert audit.counts() == {}
