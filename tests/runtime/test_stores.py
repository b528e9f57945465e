"""The store and its indexes, and the reflector that applies watch events to it."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from runtime_world import endpoint, endpoint_slice

from reconciler.models.projections import EndpointSlice
from reconciler.models.refs import NamespacedName
from reconciler.runtime.mapping import SLICE_ADDRESSES, slice_pods
from reconciler.runtime.reflector import Reflector
from reconciler.runtime.stores import Store
from reconciler.watching import Applied, Deleted, Relisted

Op = tuple[str, EndpointSlice]


def by_pod(s: EndpointSlice) -> Iterable[tuple[str, str]]:
    return ((s.metadata.namespace, pod) for pod in slice_pods(s))


def new_store() -> Store[EndpointSlice]:
    return Store(indexes={"pod": by_pod})


def holding(*pods: str, name: str, version: str = "1") -> EndpointSlice:
    return endpoint_slice(
        name, *(endpoint(pod, f"10.0.0.{i}") for i, pod in enumerate(pods)), version=version
    )


def apply(store: Store[EndpointSlice], ops: Iterable[Op]) -> None:
    for op, obj in ops:
        if op == "upsert":
            store.upsert(obj)
        else:
            store.remove(obj.metadata.namespace, obj.metadata.name)


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        pytest.param([("upsert", holding("web-0", name="a"))], {"web-0": ["a"]}, id="one-holder"),
        pytest.param(
            [("upsert", holding("web-0", name="a")), ("upsert", holding("web-0", name="b"))],
            {"web-0": ["a", "b"]},
            id="a-pod-in-two-slices-while-replaced",
        ),
        pytest.param(
            [
                ("upsert", holding("web-0", name="a")),
                ("upsert", holding("web-0", name="b")),
                ("remove", holding(name="b")),
            ],
            {"web-0": ["a"]},
            id="removing-one-of-two-holders-keeps-the-other",
        ),
        pytest.param(
            [("upsert", holding("web-0", name="a")), ("remove", holding(name="a"))],
            {"web-0": []},
            id="removing-the-last-holder-forgets-the-value",
        ),
        pytest.param(
            [
                ("upsert", holding("web-0", "web-1", name="a")),
                ("upsert", holding("web-1", name="a", version="2")),
            ],
            {"web-0": [], "web-1": ["a"]},
            id="an-update-drops-values-the-object-no-longer-has",
        ),
        pytest.param(
            [
                ("upsert", holding("web-0", name="a")),
                ("upsert", holding(name="b")),
                ("upsert", holding(name="a", version="2")),
                ("upsert", holding("web-0", name="b", version="2")),
            ],
            {"web-0": ["b"]},
            id="a-pod-moving-between-slices",
        ),
        pytest.param(
            [("upsert", holding("web-0", "web-0", name="a"))],
            {"web-0": ["a"]},
            id="a-pod-twice-in-one-slice-is-one-holder",
        ),
        pytest.param(
            [("upsert", holding("web-0", "web-0", name="a")), ("remove", holding(name="a"))],
            {"web-0": []},
            id="a-pod-twice-in-one-slice-is-forgotten-once",
        ),
        pytest.param(
            [
                ("upsert", holding("web-0", name="a")),
                ("upsert", holding("web-0", name="b")),
                ("upsert", holding("web-0", name="c")),
                ("remove", holding(name="a")),
                ("remove", holding(name="c")),
            ],
            {"web-0": ["b"]},
            id="three-holders-shrinking-to-one",
        ),
    ],
)
def test_index_follows_every_change(ops: list[Op], expected: dict[str, list[str]]) -> None:
    store = new_store()
    apply(store, ops)
    for pod, names in expected.items():
        assert [key.name for key in store.indexed_keys("pod", "ns", pod)] == names
        assert [s.metadata.name for s in store.indexed("pod", "ns", pod)] == names


def test_index_values_are_per_namespace() -> None:
    store = new_store()
    store.upsert(endpoint_slice("a", endpoint("web-0", "10.0.0.1"), namespace="one"))
    assert store.indexed_keys("pod", "one", "web-0") == (NamespacedName("one", "a"),)
    assert store.indexed_keys("pod", "two", "web-0") == ()


def test_objects_by_name_and_namespace() -> None:
    store = new_store()
    first = holding(name="a")
    store.upsert(first)
    store.upsert(endpoint_slice("b", namespace="other"))
    assert store.get("ns", "a") is first, "the decoded object itself, not a copy"
    assert store.get("ns", "missing") is None
    assert [s.metadata.name for s in store.in_namespace("ns")] == ["a"]
    assert store.names_in("other") == ("b",)
    assert len(store) == 2
    assert sorted(store.all_keys()) == [NamespacedName("ns", "a"), NamespacedName("other", "b")]


def test_upsert_returns_the_replaced_object_and_remove_the_removed_one() -> None:
    store = new_store()
    first, second = holding(name="a"), holding(name="a", version="2")
    assert store.upsert(first) is None
    assert store.upsert(second) is first
    assert len(store) == 1
    assert store.remove("ns", "a") is second
    assert store.remove("ns", "a") is None
    assert len(store) == 0
    assert list(store) == []


def test_replace_reports_added_changed_and_removed_but_not_unchanged() -> None:
    store = new_store()
    kept, changed, gone = holding(name="kept"), holding(name="changed"), holding(name="gone")
    for obj in (kept, changed, gone):
        store.upsert(obj)
    newer, added = holding("web-0", name="changed", version="2"), holding(name="added")

    changes = store.replace([holding(name="kept"), newer, added])

    pairs = [(c.old, c.new) for c in changes]
    assert len(changes) == 3
    assert (changed, newer) in pairs
    assert (None, added) in pairs
    assert (gone, None) in pairs
    assert store.get("ns", "kept") is kept, "an unchanged object is left in place"
    assert sorted(key.name for key in store.all_keys()) == ["added", "changed", "kept"]
    assert store.indexed_keys("pod", "ns", "web-0") == (NamespacedName("ns", "changed"),)


def test_objects_without_resource_version_compare_by_content() -> None:
    store = new_store()
    store.upsert(holding("web-0", name="a", version=""))
    assert store.replace([holding("web-0", name="a", version="")]) == []
    assert len(store.replace([holding("web-1", name="a", version="")])) == 1


# -- reflector ---------------------------------------------------------------------------------


def test_the_first_relist_makes_the_reflector_synced() -> None:
    reflector = Reflector(new_store())
    assert not reflector.synced
    assert reflector.apply(Relisted([], "5")) == []
    assert reflector.synced


def test_applied_and_deleted_report_old_and_new() -> None:
    reflector = Reflector(new_store())
    first, second = holding(name="a"), holding(name="a", version="2")
    (added,) = reflector.apply(Applied(first))
    (modified,) = reflector.apply(Applied(second))
    (deleted,) = reflector.apply(Deleted(second))
    assert (added.old, added.new) == (None, first)
    assert (modified.old, modified.new) == (first, second)
    assert (deleted.old, deleted.new) == (second, None)
    assert len(reflector.store) == 0


def test_events_that_change_nothing_report_nothing() -> None:
    reflector = Reflector(new_store())
    reflector.apply(Applied(holding(name="a")))
    assert reflector.apply(Applied(holding(name="a"))) == [], "same resourceVersion again"
    assert reflector.apply(Deleted(holding(name="never-seen"))) == []


def test_a_relist_forgets_objects_deleted_while_not_watching() -> None:
    reflector = Reflector(new_store())
    reflector.apply(Relisted([holding("web-0", name="a"), holding(name="b")], "5"))
    (change,) = reflector.apply(Relisted([holding(name="b")], "9"))
    assert change.new is None
    assert change.old is not None
    assert change.old.metadata.name == "a"
    assert reflector.store.indexed_keys("pod", "ns", "web-0") == ()


def address_store() -> Store[EndpointSlice]:
    return Store(indexes={"address": SLICE_ADDRESSES})


def addresses_indexed(store: Store[EndpointSlice], *addresses: str) -> dict[str, list[str]]:
    return {a: [key.name for key in store.indexed_keys("address", "", a)] for a in addresses}


def test_a_part_index_follows_an_endpoint_rewritten_in_place() -> None:
    store = address_store()
    store.upsert(endpoint_slice("a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.2")))

    store.upsert(
        endpoint_slice(
            "a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.9"), version="2"
        )
    )

    assert addresses_indexed(store, "10.0.0.1", "10.0.0.2", "10.0.0.9") == {
        "10.0.0.1": ["a"],
        "10.0.0.2": [],
        "10.0.0.9": ["a"],
    }


def test_a_value_leaving_one_part_but_held_by_another_stays_indexed() -> None:
    store = address_store()
    store.upsert(endpoint_slice("a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.1")))

    store.upsert(
        endpoint_slice(
            "a", endpoint("web-0", "10.0.0.1"), endpoint("web-1", "10.0.0.2"), version="2"
        )
    )
    assert addresses_indexed(store, "10.0.0.1") == {"10.0.0.1": ["a"]}, "web-0 still has it"
    store.upsert(
        endpoint_slice(
            "a", endpoint("web-0", "10.0.0.3"), endpoint("web-1", "10.0.0.2"), version="3"
        )
    )

    assert addresses_indexed(store, "10.0.0.1", "10.0.0.2", "10.0.0.3") == {
        "10.0.0.1": [],
        "10.0.0.2": ["a"],
        "10.0.0.3": ["a"],
    }


def test_a_part_index_falls_back_to_whole_values_when_parts_are_added() -> None:
    store = address_store()
    store.upsert(endpoint_slice("a", endpoint("web-0", "10.0.0.1")))

    store.upsert(
        endpoint_slice(
            "a", endpoint("web-1", "10.0.0.2"), endpoint("web-0", "10.0.0.3"), version="2"
        )
    )
    store.remove("ns", "a")

    assert addresses_indexed(store, "10.0.0.1", "10.0.0.2", "10.0.0.3") == {
        "10.0.0.1": [],
        "10.0.0.2": [],
        "10.0.0.3": [],
    }
