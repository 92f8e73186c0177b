"""Performance benchmark of the MEGA leads connector against the local simulator.

``python -m benchmarks.bench --quick`` (smoke test) / ``python -m benchmarks.bench`` (full run);
see ``benchmarks/README.md``.
"""
