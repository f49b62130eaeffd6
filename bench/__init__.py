"""The zerograph benchmark harness: `python bench/run.py --scale quick` (see docs/performance.md)."""
