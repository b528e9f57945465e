"""The kube-controller-manager controllers that the simulated API server runs.

Each is built from the :class:`~reconciler.simulator.store.Store` alone and
runs until cancelled, watching the store's change feed and writing to it as the
real controller writes through the API: the EndpointSlice controller (Services
and Pods to slices), the garbage collector (ownerReferences) and the namespace
controller (namespace deletion).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from reconciler.simulator.controllers.endpointslices import EndpointSliceController
from reconciler.simulator.controllers.garbage import GarbageCollector
from reconciler.simulator.controllers.namespaces import NamespaceController
from reconciler.simulator.store import Store


class Controller(Protocol):
    async def run(self) -> None:
        """Work until cancelled."""


ControllerFactory = Callable[[Store], Controller]

DEFAULT_CONTROLLERS: tuple[ControllerFactory, ...] = (
    EndpointSliceController,
    GarbageCollector,
    NamespaceController,
)

__all__ = [
    "DEFAULT_CONTROLLERS",
    "Controller",
    "ControllerFactory",
    "EndpointSliceController",
    "GarbageCollector",
    "NamespaceController",
]
