"""Pod IP addresses for the test world, handed out as a cluster's IPAM would.

Addresses come from one pod CIDR per family (10.244.0.0/16 and
fd00:10:244::/64, the usual defaults) in a fixed order, so a run is
reproducible, and are never handed out twice unless a test asks for it: the
recycled-IP danger the project guards against (a restarted pod's old address
given to a pod of another workload) is then something a test creates on
purpose, with :meth:`PodIpAllocator.reuse`.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

IpFamilyMode = Literal["IPv4", "IPv6", "DualStack"]
"""Which addresses a pod gets: one IPv4, one IPv6, or both (IPv4 first, as primary)."""

DEFAULT_IPV4_CIDR = "10.244.0.0/16"
DEFAULT_IPV6_CIDR = "fd00:10:244::/64"
_FIRST_HOST = 2


class PodIpAllocator:
    """Deterministic, never-repeating pod addresses, tracked per pod (``namespace/name``).

    A pod's addresses are released when it is deleted; :meth:`reuse` hands the
    addresses a pod released to another pod, the way a recycled IP shows up on
    a real cluster.
    """

    def __init__(
        self, *, ipv4_cidr: str = DEFAULT_IPV4_CIDR, ipv6_cidr: str = DEFAULT_IPV6_CIDR
    ) -> None:
        self._ipv4 = ipaddress.IPv4Network(ipv4_cidr)
        self._ipv6 = ipaddress.IPv6Network(ipv6_cidr)
        self._next_host = _FIRST_HOST
        self._held: dict[str, tuple[str, ...]] = {}
        self._released: dict[str, tuple[str, ...]] = {}

    def allocate(self, pod: str, *, family: IpFamilyMode = "IPv4") -> tuple[str, ...]:
        """Fresh addresses for ``pod``, primary first."""
        host = self._take_host()
        addresses: list[str] = []
        if family in ("IPv4", "DualStack"):
            addresses.append(str(self._ipv4.network_address + host))
        if family in ("IPv6", "DualStack"):
            addresses.append(str(self._ipv6.network_address + host))
        return self._hold(pod, tuple(addresses))

    def release(self, pod: str) -> None:
        """``pod`` is gone; its addresses may now be handed out again with :meth:`reuse`."""
        if pod in self._held:
            self._released[pod] = self._held.pop(pod)

    def reuse(self, pod: str, *, previous_holder: str) -> tuple[str, ...]:
        """Give ``pod`` the addresses ``previous_holder`` released most recently."""
        if previous_holder not in self._released:
            raise KeyError(f"{previous_holder} has released no addresses")
        return self._hold(pod, self._released[previous_holder])

    def addresses_of(self, pod: str) -> tuple[str, ...]:
        """The addresses ``pod`` holds now."""
        return self._held[pod]

    def _hold(self, pod: str, addresses: tuple[str, ...]) -> tuple[str, ...]:
        self.release(pod)
        self._held[pod] = addresses
        return addresses

    def _take_host(self) -> int:
        while True:
            host = self._next_host
            self._next_host += 1
            if host >= self._ipv4.num_addresses - 1:
                raise RuntimeError(f"pod CIDR {self._ipv4} is exhausted")
            if host % 256 not in (0, 255):
                return host
