"""Sharding: every key in exactly one shard, and everything about a Service in the same one."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from reconciler.leadership.sharding import Shard, ShardFilter, anchor_of, shard_of
from reconciler.models.projections import ObjectMeta, ServiceEntry, ServiceEntrySpec, WorkloadEntry
from reconciler.models.refs import Kind, NamespacedName, ObjectKey
from reconciler.planning.references import POD_ANNOTATION, SERVICE_ANNOTATION

DOMAIN = "cluster.local"


@dataclass
class View:
    service_entries: dict[tuple[str, str], ServiceEntry] = field(default_factory=dict)
    workload_entries: dict[tuple[str, str], WorkloadEntry] = field(default_factory=dict)

    def service_entry(self, namespace: str, name: str) -> ServiceEntry | None:
        return self.service_entries.get((namespace, name))

    def workload_entry(self, namespace: str, name: str) -> WorkloadEntry | None:
        return self.workload_entries.get((namespace, name))

    def add_service_entry(
        self, name: str, *, hosts: tuple[str, ...] = (), annotations: dict[str, str] | None = None
    ) -> ObjectKey:
        meta = ObjectMeta(name=name, namespace="shop", annotations=annotations or {})
        self.service_entries["shop", name] = ServiceEntry(meta, ServiceEntrySpec(hosts=hosts))
        return ObjectKey(Kind.SERVICE_ENTRY, "shop", name)

    def add_workload_entry(self, name: str, *, pod: str | None = None) -> ObjectKey:
        annotations = {POD_ANNOTATION: pod} if pod else {}
        meta = ObjectMeta(name=name, namespace="shop", annotations=annotations)
        self.workload_entries["shop", name] = WorkloadEntry(meta)
        return ObjectKey(Kind.WORKLOAD_ENTRY, "shop", name)


def services(count: int) -> list[ObjectKey]:
    return [ObjectKey(Kind.SERVICE, f"ns-{i % 7}", f"svc-{i}") for i in range(count)]


def test_two_shards_divide_100_services_with_no_overlap_and_no_gap() -> None:
    view = View()
    keys = set(services(100))
    first, second = (
        {key for key in keys if ShardFilter(Shard(i, 2), view, cluster_domain=DOMAIN)(key)}
        for i in range(2)
    )

    assert first.isdisjoint(second)
    assert first | second == keys
    assert 30 <= len(first) <= 70, "a hash that puts nearly everything in one shard is no split"


@pytest.mark.parametrize("count", [1, 3, 5])
def test_every_key_belongs_to_exactly_one_of_n_shards(count: int) -> None:
    view = View()
    filters = [ShardFilter(Shard(i, count), view, cluster_domain=DOMAIN) for i in range(count)]

    for key in services(200):
        assert sum(owns(key) for owns in filters) == 1


def test_the_hash_is_stable_across_processes_and_releases() -> None:
    # sha256("shop/web")[:8] as a big-endian integer is 10896272685078066130.
    assert shard_of(NamespacedName("shop", "web"), 2) == 10896272685078066130 % 2
    assert shard_of(NamespacedName("shop", "web"), 7) == 10896272685078066130 % 7


def test_a_service_entry_follows_the_service_its_annotation_names() -> None:
    view = View()
    key = view.add_service_entry("web-static", annotations={SERVICE_ANNOTATION: "web"})

    assert anchor_of(key, view, cluster_domain=DOMAIN) == NamespacedName("shop", "web")


def test_a_service_entry_follows_the_service_its_hosts_name() -> None:
    view = View()
    key = view.add_service_entry("entry", hosts=("db-0.db.ledger.svc.cluster.local",))

    assert anchor_of(key, view, cluster_domain=DOMAIN) == NamespacedName("ledger", "db")


def test_a_service_entry_that_follows_nothing_is_sharded_by_its_own_key() -> None:
    view = View()
    key = view.add_service_entry("external", hosts=("api.example.com",))

    assert anchor_of(key, view, cluster_domain=DOMAIN) == NamespacedName("shop", "external")


def test_a_workload_entry_follows_its_pod_or_else_itself() -> None:
    view = View()
    following = view.add_workload_entry("we-1", pod="web-1")
    alone = view.add_workload_entry("we-2")

    assert anchor_of(following, view, cluster_domain=DOMAIN) == NamespacedName("shop", "web-1")
    assert anchor_of(alone, view, cluster_domain=DOMAIN) == NamespacedName("shop", "we-2")


def test_entries_of_a_service_land_in_the_service_s_shard() -> None:
    view = View()
    for count in (2, 3, 4):
        for index in range(20):
            service = ObjectKey(Kind.SERVICE, "shop", f"web-{index}")
            entry = view.add_service_entry(
                f"entry-{index}", annotations={SERVICE_ANNOTATION: f"web-{index}"}
            )
            for shard in range(count):
                owns = ShardFilter(Shard(shard, count), view, cluster_domain=DOMAIN)
                assert owns(service) == owns(entry)


def test_a_cross_namespace_annotation_anchors_at_the_named_namespace() -> None:
    view = View()
    key = view.add_service_entry("entry", annotations={SERVICE_ANNOTATION: "ledger/db"})

    assert anchor_of(key, view, cluster_domain=DOMAIN) == NamespacedName("ledger", "db")


@pytest.mark.parametrize(("index", "count"), [(2, 2), (-1, 2), (0, 0)])
def test_a_shard_outside_its_count_is_refused(index: int, count: int) -> None:
    with pytest.raises(ValueError, match="shard index"):
        Shard(index, count)


def test_one_lease_per_shard_and_the_plain_name_without_sharding() -> None:
    assert Shard().lease_name("headless-reconciler") == "headless-reconciler"
    assert Shard(1, 3).lease_name("headless-reconciler") == "headless-reconciler-shard-1-of-3"
