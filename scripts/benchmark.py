"""Speed benchmark (not a test): single training estimates per second, in-process, on one core.

    .venv/bin/python scripts/benchmark.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time

from estimator.scenario_io import load_scenario
from estimator.step_time import step_time
from estimator.training import estimate_training


def rate(fn: object, seconds: float) -> float:
    call = fn  # type: ignore[assignment]
    call()  # type: ignore[operator]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()  # type: ignore[operator]
        n += 1
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    sc = load_scenario()
    for label, fn in (("estimate_training (full result)", lambda: estimate_training(sc)),
                      ("step_time only", lambda: step_time(sc))):
        r = rate(fn, args.seconds)
        print(f"{label:<34} {r:>10,.0f} estimates/s  ({1e3 / r:.3f} ms each)")


if __name__ == "__main__":
    main()
