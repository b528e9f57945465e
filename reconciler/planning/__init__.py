"""The pure core: what should be true, and the plan that makes it so.

Nothing in this package does I/O, logs or counts (STYLE.md, point 1): it takes
cached projections and returns frozen data. ``diff``, ``run --dry-run``,
Events, logs and metrics are all renderings of the same plan.

The pipeline inside, in reading order: ``scope`` (is an entry ours, what does
it follow), ``desired`` (each pod's ready address, from EndpointSlices),
``endpoints`` (the endpoint list rebuilt, user fields kept), ``limits`` and
``guard`` (never write the invalid or the sudden mass removal), ``health``
(WorkloadEntry ``Healthy`` condition), and ``planner`` tying them together.
"""

from reconciler.planning.outcome import applied_to_service_entry, applied_to_workload_entry
from reconciler.planning.planner import (
    plan,
    plan_service_entry,
    plan_workload_entry,
    service_entry_key,
    workload_entry_key,
)
from reconciler.planning.settings import PlanningSettings, parse_allow_cross_namespace

__all__ = [
    "PlanningSettings",
    "applied_to_service_entry",
    "applied_to_workload_entry",
    "parse_allow_cross_namespace",
    "plan",
    "plan_service_entry",
    "plan_workload_entry",
    "service_entry_key",
    "workload_entry_key",
]
