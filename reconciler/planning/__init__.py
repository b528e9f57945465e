"""The pure core: what should be true, and the plan that makes it so.

Nothing in this package does I/O, logs or counts (STYLE.md, point 1): it takes
cached projections and returns frozen data. ``diff``, ``run --dry-run``,
Events, logs and metrics are all renderings of the same plan.
"""
