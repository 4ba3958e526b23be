"""Benchmarks run by `make bench` (never by `make test`).

Each module `bench_*.py` defines ``run(quick: bool = False) -> list[dict]`` returning rows built
with :func:`tests.benchmarks.harness.result`. Every ratio is against a baseline measured in the
same run on the same data.
"""
