"""A seeded fault campaign: the controller under faults, then judged by the server's write log.

``schedules`` draws what goes wrong from a seed, ``world`` holds the cluster
and its truth, ``replicas`` runs and kills the controller's processes,
``invariants`` replays the write log, ``runner`` ties them together. Run it
with ``python -m reconciler.testbed.campaign --schedules 200``; the test suite
runs a few schedules and keeps every seed that ever failed.
"""

from reconciler.testbed.campaign.runner import (
    CONVERGE_BOUND,
    ScheduleResult,
    Summary,
    run_campaign,
    run_schedule,
)
from reconciler.testbed.campaign.schedules import Schedule, generate

__all__ = [
    "CONVERGE_BOUND",
    "Schedule",
    "ScheduleResult",
    "Summary",
    "generate",
    "run_campaign",
    "run_schedule",
]
