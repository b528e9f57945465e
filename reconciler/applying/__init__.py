"""The I/O side of a plan: writes, their preconditions, and the Events that record them.

This is the one place that decides whether anything is written at all: the
dry-run switch lives here and nowhere else (STYLE.md, point 3).
"""
