"""Pod addresses for the test world: reproducible, never reused unless a test asks."""

from __future__ import annotations

import pytest

from reconciler.testbed.addresses import PodIpAllocator


def test_addresses_come_in_order_from_the_pod_cidr() -> None:
    allocator = PodIpAllocator()
    assert [allocator.allocate(f"ns/web-{i}") for i in range(3)] == [
        ("10.244.0.2",),
        ("10.244.0.3",),
        ("10.244.0.4",),
    ]


def test_an_address_is_never_handed_out_twice() -> None:
    allocator = PodIpAllocator(ipv4_cidr="10.1.0.0/22")
    seen = [allocator.allocate("ns/web-0")[0] for _ in range(1000)]
    assert len(set(seen)) == len(seen)
    assert not any(ip.endswith((".0", ".255")) for ip in seen)


def test_an_exhausted_cidr_is_an_error() -> None:
    allocator = PodIpAllocator(ipv4_cidr="10.1.0.0/29")
    handed_out = [allocator.allocate("ns/web-0") for _ in range(5)]
    assert handed_out[-1] == ("10.1.0.6",)
    with pytest.raises(RuntimeError, match="exhausted"):
        allocator.allocate("ns/web-0")


def test_ipv6_and_dual_stack_pods_get_addresses_of_each_family() -> None:
    allocator = PodIpAllocator()
    assert allocator.allocate("ns/a", family="IPv6") == ("fd00:10:244::2",)
    assert allocator.allocate("ns/b", family="DualStack") == ("10.244.0.3", "fd00:10:244::3")


def test_a_released_address_is_handed_to_another_pod_only_on_request() -> None:
    allocator = PodIpAllocator()
    first = allocator.allocate("ns/web-0")
    allocator.release("ns/web-0")
    second = allocator.allocate("ns/web-0")
    assert second != first
    assert allocator.reuse("ns/other-0", previous_holder="ns/web-0") == first
    assert allocator.addresses_of("ns/other-0") == first
    assert allocator.addresses_of("ns/web-0") == second


def test_only_released_addresses_can_be_reused() -> None:
    allocator = PodIpAllocator()
    allocator.allocate("ns/web-0")
    with pytest.raises(KeyError, match="released no addresses"):
        allocator.reuse("ns/other-0", previous_holder="ns/web-0")
