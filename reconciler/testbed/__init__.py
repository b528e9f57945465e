"""Helpers that change the test world only through the Kubernetes API.

They play the parts a control plane without kubelet, scheduler or workload
controllers lacks (binding pods, writing their status, restarting them), and
wait for kube-controller-manager's reaction by watching. Nothing here touches
the simulator's internals, so every test written with them runs unchanged
against a real cluster.
"""

from reconciler.testbed.addresses import IpFamilyMode, PodIpAllocator
from reconciler.testbed.manifests import DEFAULT_PORTS, NamedPort
from reconciler.testbed.statefulsets import (
    DEFAULT_NODE,
    DEFAULT_ZONE,
    PodState,
    StatefulPodSet,
    ensure_namespace,
    ensure_node,
)
from reconciler.testbed.waiting import (
    ready_addresses,
    wait_for_namespace_gone,
    wait_for_pod_gone,
    wait_for_ready_addresses,
    wait_for_slices,
    watch_until,
)

__all__ = [
    "DEFAULT_NODE",
    "DEFAULT_PORTS",
    "DEFAULT_ZONE",
    "IpFamilyMode",
    "NamedPort",
    "PodIpAllocator",
    "PodState",
    "StatefulPodSet",
    "ensure_namespace",
    "ensure_node",
    "ready_addresses",
    "wait_for_namespace_gone",
    "wait_for_pod_gone",
    "wait_for_ready_addresses",
    "wait_for_slices",
    "watch_until",
]
