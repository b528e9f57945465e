"""The one-shot, read-only commands: ``diff`` and ``audit``.

Both list the scope once into the same cache the controller keeps
(:mod:`~reconciler.reporting.snapshot`), decide from it with pure functions
(:mod:`~reconciler.reporting.diff` runs the controller's own planner;
:mod:`~reconciler.reporting.audit` judges every STATIC entry, opted in or
not), and print a rendering (:mod:`~reconciler.reporting.rendering`) whose
exit code says whether anything is wrong (:mod:`~reconciler.reporting.commands`).
Nothing here writes to the cluster.
"""
