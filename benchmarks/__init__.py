"""Benchmarks: run them as modules, for example ``python -m benchmarks.local_model``."""
