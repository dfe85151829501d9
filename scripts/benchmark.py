"""Speed benchmark (not a test), on this machine:

- CLI start-up: CPU time (user + system) of `estimator train examples/gpt3-175b.yaml`, a whole process,
  median of --runs, with the package's bytecode compiled first (as an installed package has it), beside
  the dependency floor (an interpreter importing PyYAML and pydantic, nothing of this package);
- full training estimates per second, in-process, one core;
- the planner on GPT-3 175B (300B tokens, 8–4096 GPUs, six accelerators): configurations generated and
  configurations evaluated (those with a valid layout, whose time, memory and cost are computed) per second;
- the dashboard's training page re-render after a widget change (Streamlit AppTest);
- the dashboard in Debian's Chromium: first load, a training edit, a planner search, a planner re-rank.

    .venv/bin/python scripts/benchmark.py [--seconds 3] [--runs 15] [--no-dashboard] [--browser-only]
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


FLOOR = "import yaml, pydantic; from pydantic import BaseModel, Field, ValidationError"


def _cpu_s(cmd: list[str]) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def cli_startup_cpu_s(runs: int) -> tuple[float, float, float]:
    """(median, minimum) CPU seconds of one `estimator train` process on the GPT-3 example, and the median
    of the dependency floor — a bare interpreter importing only what the CLI cannot do without (PyYAML,
    pydantic) — measured in turn with it, so that a slow or noisy machine shows in both."""
    compileall.compile_dir(str(ROOT / "estimator"), quiet=1)
    exe = Path(sys.executable).with_name("estimator")
    cmd = [str(exe), "train", str(ROOT / "examples" / "gpt3-175b.yaml")]
    samples, floor = [], []
    for _ in range(runs):
        samples.append(_cpu_s(cmd))
        floor.append(_cpu_s([sys.executable, "-c", FLOOR]))
    return statistics.median(samples), min(samples), statistics.median(floor)


def rate(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - start)


def dashboard_rerender_s(repeats: int = 5) -> float:
    """Median wall time of the training page's rerun after the GPU count changes (Streamlit AppTest: the
    whole script, the estimate, the sweeps and the Plotly figures; not the browser's drawing)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=120).run()
    gpus = next(n for n in at.number_input if n.label == "GPUs")
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        gpus.set_value(512 if i % 2 == 0 else 1024).run()
        times.append(time.perf_counter() - start)
        gpus = next(n for n in at.number_input if n.label == "GPUs")
    return statistics.median(times)


def browser_timings(repeats: int = 3) -> dict[str, float]:
    """Wall seconds in Debian's Chromium (Playwright) against `estimator dashboard`'s server, each the
    median of `repeats`: first load (a new session on a started server until the answer band shows), a
    training edit (GPUs typed until the training time changes), a planner search (a hardware set not
    searched before, until the best plan shows), a planner re-rank (objective changed on a searched set)."""
    sys.path.insert(0, str(ROOT))
    from tests import browser_harness as bh

    out: dict[str, list[float]] = {
        "first load": [],
        "training edit": [],
        "planner search": [],
        "re-rank": [],
        "re-rank on the server": [],
    }
    with bh.server() as url, bh.chromium() as browser:
        warm = browser.new_page()
        warm.goto(url, wait_until="domcontentloaded")
        warm.wait_for_selector(bh.ANSWER, timeout=120_000)  # the server's first run imports the package
        warm.wait_for_selector(".js-plotly-plot", timeout=120_000)
        bh.idle(warm)
        warm.close()
        for i in range(repeats):
            ctx = browser.new_context(viewport={"width": 1366, "height": 768})
            page = ctx.new_page()
            start = time.perf_counter()
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector(bh.ANSWER, timeout=120_000)
            out["first load"].append(time.perf_counter() - start)
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 5")
            bh.idle(page)  # the page settled: charts drawn
            gpus = page.get_by_label("GPUs", exact=True)
            before = bh.metric(page, "Training time")
            start = time.perf_counter()
            gpus.fill(str((512, 256, 2048)[i % 3]))  # multiples of tp·pp = 128
            gpus.press("Enter")
            bh.wait_metric_change(page, "Training time", before)
            out["training edit"].append(time.perf_counter() - start)
            hw = ("h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-180gb")[i % 3]
            start = time.perf_counter()
            page.goto(
                f"{url}/?page=Planner&plan_hw={hw}&plan_max_gpus={1024 + 8 * i}",
                wait_until="domcontentloaded",
            )
            page.wait_for_selector('[data-testid="stMetric"] >> text=Best plan', timeout=300_000)
            out["planner search"].append(time.perf_counter() - start)
            bh.idle(page)
            box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Objective").first
            start = time.perf_counter()
            box.locator("input").click()
            page.keyboard.type("time")
            page.keyboard.press("Enter")
            page.wait_for_selector("text=Ranked by time:", timeout=60_000)
            out["re-rank"].append(time.perf_counter() - start)
            bh.idle(page)
            text = " ".join(page.locator('[data-testid="stCaptionContainer"]').all_inner_texts())
            found = re.search(r"re-ranked in ([\d,]+) ms", text)
            if found:
                out["re-rank on the server"].append(float(found.group(1).replace(",", "")) / 1e3)
            ctx.close()
            time.sleep(1.0)  # the closed session's last run finishes before the next first load
    if os.environ.get("BENCH_VERBOSE"):
        print(out)
    return {k: statistics.median(v) for k, v in out.items() if v}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-dashboard", action="store_true")
    parser.add_argument("--browser-only", action="store_true", help="only the dashboard timings in Chromium")
    args = parser.parse_args()
    if args.browser_only:
        for name, seconds in browser_timings().items():
            print(f"{'dashboard in Chromium: ' + name:<40} {seconds:>10.2f} s (median of 3)")
        return
    median, best, floor = cli_startup_cpu_s(args.runs)
    print(
        f"{'CLI start-up (estimator train, GPT-3)':<40} {median:>10.3f} s CPU median of {args.runs} "
        f"(min {best:.3f} s); dependency floor (python importing PyYAML and pydantic) {floor:.3f} s, "
        f"so {median - floor:.3f} s is the package's own"
    )

    from estimator.planner import plan
    from estimator.planner.report import top_plans
    from estimator.scenario_io import load_plan_scenario, load_scenario
    from estimator.training import estimate_training

    sc = load_scenario()
    r = rate(lambda: estimate_training(sc), args.seconds)
    print(f"{'full estimates (estimate_training)':<40} {r:>10,.0f} estimates/s  ({1e3 / r:.3f} ms each)")
    psc = load_plan_scenario(ROOT / "examples" / "plan-gpt3-175b.yaml")
    spec = psc.plan.model_copy(update={"min_gpus": 8, "deadline_days": None})  # type: ignore[union-attr]
    plan(psc, spec.model_copy(update={"max_gpus": 64}), progress=False)  # warm caches
    result = plan(psc, spec, progress=False)
    per_s = result.configurations_evaluated / result.search_time_s
    print(
        f"{'planner (GPT-3 175B, 6 accelerators)':<40} {per_s:>10,.0f} configurations evaluated/s "
        f"({result.configurations_evaluated:,} evaluated of {result.configurations_generated:,} generated "
        f"= {result.configurations_generated / result.search_time_s:,.0f} generated/s, in "
        f"{result.search_time_s:.2f} s; "
        f"OMP threads {os.environ.get('OMP_NUM_THREADS', 'default')})"
    )
    best_plan = top_plans(psc, result, spec, 1)[0]
    print(
        f"top plan: {best_plan['scenario']['hardware']} × {best_plan['scenario']['gpus']}, grid step "
        f"{best_plan['grid_step_time_s']:.4f} s, `estimator train` step "
        f"{best_plan['estimate']['step_time_s']:.4f} s"
    )
    if not args.no_dashboard:
        print(
            f"{'dashboard training page re-render':<40} {dashboard_rerender_s() * 1e3:>10,.0f} ms after a "
            "widget "
            "change (AppTest, median of 5)"
        )
        for name, seconds in browser_timings().items():
            print(f"{'dashboard in Chromium: ' + name:<40} {seconds:>10.2f} s (median of 3)")


if __name__ == "__main__":
    main()
