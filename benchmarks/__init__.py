"""KRATOS's benchmark suite: ``python -m benchmarks`` (``make bench``); see BENCHMARKS.md."""
