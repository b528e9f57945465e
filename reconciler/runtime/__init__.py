"""The runtime: caches fed by the watch layer, change-to-key mapping, and the work queue.

The pipeline of kube-rs's runtime, one small piece per job: informers run the
watchers into the cache (:mod:`~reconciler.runtime.informers`), reflectors
keep each store equal to what was watched (:mod:`~reconciler.runtime.reflector`,
:mod:`~reconciler.runtime.stores`), the cache answers the planner and the
mapping (:mod:`~reconciler.runtime.cache`), pure functions turn each change
into keys (:mod:`~reconciler.runtime.mapping`), and the queue runs each key
once at a time (:mod:`~reconciler.runtime.queue`).
"""

from reconciler.runtime.cache import ClusterCache
from reconciler.runtime.informers import ChangeCallback, Informers
from reconciler.runtime.mapping import Links, keys_for_change
from reconciler.runtime.queue import (
    Clock,
    MonotonicClock,
    Reconcile,
    Requeue,
    RetryBackoff,
    Work,
    WorkQueue,
)
from reconciler.runtime.stores import Change, Store

__all__ = [
    "Change",
    "ChangeCallback",
    "Clock",
    "ClusterCache",
    "Informers",
    "Links",
    "MonotonicClock",
    "Reconcile",
    "Requeue",
    "RetryBackoff",
    "Store",
    "Work",
    "WorkQueue",
    "keys_for_change",
]
