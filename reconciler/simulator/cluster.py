"""A simulated cluster as tests, the demo and ``simulate`` use it: server plus controllers.

The bare :class:`Simulator` runs no controllers, which unit tests of the server
want. Everything that plays a whole cluster wants the ones kube-controller-manager
would run for the objects this project cares about.

The controllers react at once by default, which keeps tests fast. The real
garbage collector and namespace controller take a moment (fidelity 09 measured
about 0.2 s): a GET right after a foreground DELETE still finds the owner, a
create right after a namespace DELETE meets a terminating namespace.
``controller_latency`` gives the simulated ones that moment too.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from reconciler.simulator.controllers import (
    ControllerFactory,
    EndpointSliceController,
    GarbageCollector,
    NamespaceController,
)
from reconciler.simulator.simulator import Simulator


def simulated_cluster(*, controller_latency: float = 0.0, **settings: Any) -> Simulator:
    """A :class:`Simulator` running the EndpointSlice, garbage and namespace controllers.

    ``controller_latency`` is how long (seconds) the garbage collector and the
    namespace controller wait between noticing work and doing it.
    """
    controllers: tuple[ControllerFactory, ...] = (
        EndpointSliceController,
        partial(GarbageCollector, latency=controller_latency),
        partial(NamespaceController, latency=controller_latency),
    )
    return Simulator(controllers=controllers, **settings)
