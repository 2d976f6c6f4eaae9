"""Benchmarks of the simulation engine (issue 7). Run them with ``make bench`` / ``python -m bench``.

Each ``bench/bench_*.py`` module exposes ``run() -> dict``; :mod:`bench.__main__` discovers them,
prints a table and writes ``bench/results.json``. Not part of the test suite's pass/fail.
"""
