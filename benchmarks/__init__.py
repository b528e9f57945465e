"""Benchmarks at cluster scale (SPEC section 8), side by side with the alternatives and the limit.

``python -m benchmarks`` runs every scenario and writes ``benchmarks/results/``;
``benchmarks/README.md`` has the targets and what each scenario measures.
"""
