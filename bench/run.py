"""Run every benchmark of the platform (``make bench``); never part of ``make test``.

Each benchmark times the platform's path against a bare baseline doing the same work without
the platform's code, in the same run, and prints medians of several repetitions. The figures
quoted in RESULTS.md come from this script.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCHMARKS = [
    "bench.foundation",
    "bench.ingest",
    "bench.warnings_bench",
    "bench.draw",
    "bench.statistics_bench",
    "bench.load",
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = parser.parse_args()
    for name in args.names or BENCHMARKS:
        module = importlib.import_module(name if name.startswith("bench.") else f"bench.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
