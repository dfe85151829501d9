"""Speed benchmark (not a test): single training estimates per second, in-process, on one core, and
the planner's configurations per second on GPT-3 175B (300B tokens, up to 4096 GPUs, six accelerators).

    .venv/bin/python scripts/benchmark.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from estimator.planner import plan
from estimator.planner.report import top_plans
from estimator.scenario_io import load_plan_scenario, load_scenario
from estimator.training import estimate_training
from estimator.training.step import step_time


def rate(fn: object, seconds: float) -> float:
    call = fn  # type: ignore[assignment]
    call()  # type: ignore[operator]
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()  # type: ignore[operator]
        n += 1
    return n / (time.perf_counter() - start)


def dashboard_rerender_s(repeats: int = 5) -> float:
    """Median wall time of the training page's rerun after the GPU count changes (Streamlit AppTest: the
    whole script, the estimate, the sweeps and the Plotly figures; not the browser's drawing)."""
    import statistics

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py"), default_timeout=120).run()
    gpus = next(n for n in at.number_input if n.label == "GPUs")
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        gpus.set_value(512 if i % 2 == 0 else 1024).run()
        times.append(time.perf_counter() - start)
        gpus = next(n for n in at.number_input if n.label == "GPUs")
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    sc = load_scenario()
    for label, fn in (("estimate_training (full result)", lambda: estimate_training(sc)),
                      ("step_time only", lambda: step_time(sc))):
        r = rate(fn, args.seconds)
        print(f"{label:<34} {r:>10,.0f} estimates/s  ({1e3 / r:.3f} ms each)")
    example = Path(__file__).resolve().parent.parent / "examples" / "plan-gpt3-175b.yaml"
    psc = load_plan_scenario(example)
    spec = psc.plan.model_copy(update={"min_gpus": 8, "deadline_days": None})  # type: ignore[union-attr]
    plan(psc, spec.model_copy(update={"max_gpus": 64}), progress=False)  # warm caches (validation band)
    result = plan(psc, spec, progress=False)
    rate_cfg = result.configurations_evaluated / result.search_time_s
    print(f"{'planner (GPT-3 175B, 6 accelerators)':<34} {rate_cfg:>10,.0f} configurations/s "
          f"({result.configurations_evaluated:,} in {result.search_time_s:.2f} s; OMP threads "
          f"{os.environ.get('OMP_NUM_THREADS', 'default')})")
    best = top_plans(psc, result, spec, 1)[0]
    rerender = dashboard_rerender_s()
    print(f"{'dashboard training page re-render':<34} {rerender * 1e3:>10,.0f} ms after a widget change (AppTest, median of 5)")
    print(f"top plan: {best['scenario']['hardware']} × {best['scenario']['gpus']}, grid step "
          f"{best['grid_step_time_s']:.4f} s, `estimator train` step {best['estimate']['step_time_s']:.4f} s")


if __name__ == "__main__":
    main()
