"""A simulated cluster as tests, the demo and ``simulate`` use it: server plus controllers.

The bare :class:`Simulator` runs no controllers, which unit tests of the server
want. Everything that plays a whole cluster wants the ones kube-controller-manager
would run for the objects this project cares about.
"""

from __future__ import annotations

from typing import Any

from reconciler.simulator.controllers import DEFAULT_CONTROLLERS
from reconciler.simulator.simulator import Simulator


def simulated_cluster(**settings: Any) -> Simulator:
    """A :class:`Simulator` running the EndpointSlice, garbage and namespace controllers."""
    return Simulator(controllers=DEFAULT_CONTROLLERS, **settings)
