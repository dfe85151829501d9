"""The command line: parse, load, call the library, print. Exit 0 on success, 2 on bad input.

`estimator train` must stay quick: nothing here imports torch, fvcore or streamlit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from estimator.cli_types import bounded_float, bounded_int
from estimator.errors import InputError

EXIT_OK, EXIT_DEFECT, EXIT_BAD_INPUT = 0, 1, 2


def _train(args: argparse.Namespace) -> str:
    from estimator.render import to_csv, to_json, to_table
    from estimator.scenario_io import load_scenario
    from estimator.training import estimate_training

    est = estimate_training(load_scenario(args.scenario))
    return {"json": to_json, "csv": to_csv, "table": to_table}[args.format](est)


def _models_list(args: argparse.Namespace) -> str:
    from estimator.params import count_params
    from estimator.presets import model_presets

    rows = []
    for name, m in model_presets().items():
        c = count_params(m)
        rows.append(
            {
                "name": name,
                "architecture": m.architecture,
                "params_total": c.total,
                "params_active": c.active,
                "source": m.source,
            }
        )
    if args.format == "json":
        return json.dumps(rows, indent=2)
    lines = [f"{'name':<18} {'architecture':<16} {'params':>16}  source"]
    lines += [
        f"{r['name']:<18} {r['architecture']:<16} {r['params_total']:>16,.0f}  {r['source']}" for r in rows
    ]
    return "\n".join(lines) + "\n"


def _hardware_list(args: argparse.Namespace) -> str:
    from estimator.profiles import builtin_profiles
    from estimator.units import fmt_bytes

    profiles = builtin_profiles()
    if args.format == "json":
        rows = []
        for name, hw in profiles.items():
            price = hw.default_price
            rows.append(
                {
                    "name": name,
                    "display_name": hw.display_name,
                    "peak_flops_per_s": hw.peak_flops_per_s.model_dump(),
                    "memory_bytes": hw.memory_bytes,
                    "memory_bandwidth_bytes_per_s": hw.memory_bandwidth_bytes_per_s,
                    "tdp_w": hw.tdp_w,
                    "usd_per_gpu_hour": price.usd_per_gpu_hour if price else None,
                    "price_date": price.date if price else None,
                }
            )
        return json.dumps(rows, indent=2)
    lines = [
        f"{'name':<16} {'bf16 TFLOP/s':>12} {'memory':>11} {'HBM TB/s':>8} {'TDP W':>6} {'$/GPU-h':>8}  "
        "product"
    ]
    for name, hw in profiles.items():
        bf16_peak, price = hw.peak_flops_per_s.bf16, hw.default_price
        bf16 = f"{bf16_peak / 1e12:,.0f}" if bf16_peak else "—"
        usd = f"{price.usd_per_gpu_hour:.2f}" if price else "—"
        lines.append(
            f"{name:<16} {bf16:>12} {fmt_bytes(hw.memory_bytes):>11} "
            f"{hw.memory_bandwidth_bytes_per_s / 1e12:>8.3f} {hw.tdp_w:>6.0f} {usd:>8}  {hw.display_name}"
        )
    return "\n".join(lines) + "\n"


def _validate_serving(args: argparse.Namespace) -> str:
    from estimator import serving_validation as sv

    if args.write:
        for path in sv.write_serving(sv.serving_blocks()):
            sys.stderr.write(f"wrote the serving calibration into {path}\n")
        sv.write_serving_summary()
        sys.stderr.write(f"wrote {sv.SUMMARY_FILE}\n")
    rows = sv.validate_serving()
    groups = sv.serving_summaries(rows)
    if args.format == "json":
        return json.dumps({"rows": [r.as_dict() for r in rows], "by_metric": groups}, indent=2) + "\n"
    lines = [
        f"{'measurement':<44} {'metric':<10} {'measured':>10} {'predicted':>10} {'error':>7} {'LOMO':>7}"
    ]
    for r in rows:
        unit = 1000 if r.metric == "ttft" else 1
        held = f"{r.cv_error:>+7.1%}" if r.beyond_bound is None else f"  ({r.beyond_bound:.2f}× its bound)"
        lines.append(
            f"{r.run:<44} {r.metric:<10} {r.measured * unit:>10.4g} {r.predicted * unit:>10.4g} "
            f"{r.error:>+7.1%} {held}"
        )
    lines.append("")
    for r in rows:
        if r.beyond_bound is not None:
            lines.append(
                f"{r.run}: the measurement is {r.beyond_bound:.2f}× what its stated configuration can reach "
                "at full HBM bandwidth, peak GEMM throughput and no fixed costs; it is left out of the fit "
                "and of the figures below (its stated configuration is not the one that ran, or it is "
                "misprinted)"
            )
    lines.append("")
    for name, g in groups.items():
        ins, cv = g["in_sample"], g["cross_validated"]
        lines.append(
            f"{name:<20} {int(ins['runs']):>3} runs: in sample median {ins['median_abs_error']:.1%} max "
            f"{ins['max_abs_error']:.1%}; leave-one-model-out median {cv['median_abs_error']:.1%} max "
            f"{cv['max_abs_error']:.1%}"
        )
    lines.append(
        "throughput: output tokens/s per GPU of TensorRT-LLM 0.9.0's static batches; ttft in ms at batch 1. "
        "LOMO: each model's rows predicted by the serving calibration fitted on the other models."
    )
    return "\n".join(lines) + "\n"


def _validate(args: argparse.Namespace) -> str:
    from estimator import validation as v

    if args.serving:
        return _validate_serving(args)

    if args.write:
        blocks = v.fitted_blocks()
        for path in v.write_fitted(blocks):
            sys.stderr.write(f"wrote the fitted calibration into {path}\n")
        v.write_summary()
        sys.stderr.write(f"wrote {v.SUMMARY_FILE}\n")
    rows = v.validate(args.set)
    groups = v.summaries(rows)
    fitted = v.full_fit() if args.fit else {}
    if args.format == "json":
        out: dict[str, Any] = {
            "set": args.set,
            "runs": [r.as_dict() for r in rows],
            "summary": groups["all"]["in_sample"],
            "cross_validated": groups["all"]["cross_validated"],
            "by_generation": {k: g for k, g in groups.items() if k != "all"},
            "unexpressible": [{"run": r, "missing": why} for r, why in v.unexpressible_runs()],
        }
        if args.fit:
            out["fit"] = {k: f.model_dump(mode="json") for k, f in fitted.items()}
        return json.dumps(out, indent=2) + "\n"
    lines = [
        f"{'run':<54} {'family':<24} {'GPUs':>5} {'measured s':>10} {'predicted s':>11} {'error':>7} "
        f"{'LOSO':>7}"
    ]
    lines += [
        f"{r.run:<54} {r.family:<24} {r.gpus:>5} {r.measured_s:>10.3f} {r.predicted_s:>11.3f} "
        f"{r.error:>+7.1%} {r.cv_error:>+7.1%}"
        for r in rows
    ]
    lines.append("")
    lines.append(
        f"{'':<14} {'runs':>5}  {'in-sample median / max |error|':>32}  "
        f"{'leave-one-source-out median / max':>36}"
    )
    for name, g in groups.items():
        ins, cv = g["in_sample"], g["cross_validated"]
        lines.append(
            f"{name:<14} {int(ins['runs']):>5}  {ins['median_abs_error']:>15.1%} / "
            f"{ins['max_abs_error']:<14.1%}"
            f"  {cv['median_abs_error']:>17.1%} / {cv['max_abs_error']:<16.1%}"
        )
    lines.append(
        "seconds per optimizer step. 'predicted' uses the calibration shipped in the hardware profiles "
        "(fitted on these runs: in sample); 'LOSO' predicts each family of runs (a paper, a benchmark "
        "table or series) with the calibration refitted without it. No constant is fitted per run."
    )
    missing = v.unexpressible_runs()
    lines.append(
        "runs not expressible as scenarios: "
        + (", ".join(f"{r} ({why})" for r, why in missing) if missing else "none")
    )
    if args.fit:
        lines.append("calibration refitted on every run (write it with --write):")
        for key, f in fitted.items():
            lines.append(
                f"  {key:<20} sustained {f.sustained}, non-GEMM HBM {f.memory_bandwidth_efficiency}, "
                f"per-step {f.step_overhead_s} s, network {f.network_efficiency} ({len(f.runs)} runs)"
            )
    return "\n".join(lines) + "\n"


def _plan(args: argparse.Namespace) -> str:
    from estimator.planner import plan
    from estimator.planner.report import to_csv, to_json, to_table
    from estimator.scenario_io import load_plan_scenario
    from estimator.specs.plan import PlanSpec

    sc = load_plan_scenario(args.scenario)
    spec = sc.plan or PlanSpec()
    if args.objective:
        spec = spec.model_copy(update={"objective": args.objective})
    result = plan(sc, spec)
    if args.format == "json":
        return to_json(sc, result, spec, args.top)
    return to_csv(result, spec, args.top) if args.format == "csv" else to_table(result, spec, args.top)


def _size(args: argparse.Namespace) -> str:
    from estimator.profiles import load_hardware
    from estimator.sizing import size
    from estimator.units import fmt_count, fmt_usd

    hw = load_hardware(args.hardware)
    if args.usd_per_gpu_hour is not None:
        price: float | None = args.usd_per_gpu_hour
    else:
        price = hw.default_price.usd_per_gpu_hour if hw.default_price else None
    peak = hw.peak_flops_per_s.bf16 or hw.peak_flops_per_s.fp16
    if not peak:
        raise InputError(f"--hardware: {hw.name} has no 16-bit peak to size against")
    per_hour = peak * args.mfu * 3600
    if args.budget_usd is not None:
        if not price:
            raise InputError(f"--budget-usd needs a price: {hw.name} has none; give --usd-per-gpu-hour")
        compute = args.budget_usd / price * per_hour
    elif args.compute_flops is not None:
        compute = args.compute_flops
    else:
        raise InputError("give --compute-flops or --budget-usd")
    if not (compute > 0 and compute < 1e32):
        raise InputError(f"the budget gives {compute:.3g} FLOPs; it must be positive and below 1e32")
    rows = size(compute_flops=compute, flops_per_gpu_hour=per_hour, usd_per_gpu_hour=price)
    if args.format == "json":
        return (
            json.dumps(
                {
                    "compute_flops": compute,
                    "hardware": hw.name,
                    "mfu": args.mfu,
                    "usd_per_gpu_hour": price,
                    "rows": [r.as_dict() for r in rows],
                },
                indent=2,
            )
            + "\n"
        )
    lines = [
        f"budget: {compute:.3e} FLOPs on {hw.name} at MFU {args.mfu:.0%}"
        + (
            f", ${price:.2f}/GPU-hour: {fmt_usd(rows[0].cost_usd or 0)}, {rows[0].gpu_hours:,.0f} GPU-hours"
            if price
            else ""
        ),
        "",
        f"{'allocation':<58} {'params':>10} {'tokens':>10} {'tok/param':>9} {'loss':>7} "
        f"{'compute for ref. loss':>22}",
    ]
    lines += [
        f"{r.label:<58} {fmt_count(r.params):>10} {fmt_count(r.tokens):>10} {r.tokens_per_param:>9.0f} "
        f"{r.loss:>7.4f} "
        f"{r.compute_for_reference_loss:>22.3e}"
        for r in rows
    ]
    lines += [
        "",
        "loss: Hoffmann et al. 2022 Approach 3, L = 1.69 + 406.4/N^0.34 + 410.7/D^0.28 (nats/token on "
        "MassiveText);",
        "reference loss: the 20-tokens/parameter row's; MFU is an input (default 40 %, typical of published "
        "runs).",
    ]
    return "\n".join(lines) + "\n"


def _infer(args: argparse.Namespace) -> str:
    from estimator.render import flat_csv
    from estimator.scenario_io import load_inference_scenario
    from estimator.serving import estimate_inference
    from estimator.units import fmt_bytes, fmt_usd

    sc = load_inference_scenario(args.scenario)
    est = estimate_inference(sc)
    doc = est.to_json_dict()
    if args.format == "json":
        return json.dumps(doc, indent=2) + "\n"
    if args.format == "csv":
        return flat_csv(doc)
    e = est

    def usd(x: float | None) -> str:
        if not e.fits_in_memory or not e.load.get("slo_feasible", True):
            return "not priced"
        return "n/a (no price)" if x is None else fmt_usd(x)

    load = e.load
    under_load = []
    if load:
        t, p = load["ttft_s"], load["tpot_s"]
        under_load = [
            f"  under load         {load['method']}",
            f"                     TTFT p50 {t['p50'] * 1e3:,.1f} / p90 {t['p90'] * 1e3:,.1f} / p99 "
            f"{t['p99'] * 1e3:,.1f} ms; per token p50 {p['p50'] * 1e3:,.2f} / p99 {p['p99'] * 1e3:,.2f} ms",
        ]
        if "goodput_requests_per_s" in load:
            under_load.append(
                f"                     goodput {load['goodput_requests_per_s']:,.2f} requests/s meeting both "
                f"targets; KV cache {load['kv_utilisation']:.0%} used on average; "
                f"{load['preemptions_per_request']:.3f} preemptions per request"
            )
        if "prefill_replicas" in load:
            under_load.append(
                f"                     disaggregated: {load['prefill_replicas']} prefill replica(s), KV "
                "transfer "
                f"{load['kv_transfer_s'] * 1e3:,.1f} ms per request"
            )
        if not load.get("slo_feasible", True):
            under_load.append(f"  NOT FEASIBLE: {load['slo_reason']}; no cost is given.")
        if sc.speculative is not None:
            under_load.append(
                f"  speculative        {load['speculative_tokens_per_step']:.2f} tokens per target step "
                f"(k {sc.speculative.k}, acceptance {sc.speculative.acceptance})"
            )

    lines = [
        f"{e.scenario}: {e.model} on {e.gpus_per_replica} × {e.hardware} per replica",
        "",
        f"  batch              {e.batch} requests ({e.sequences_per_step} sequences per decode step); fits "
        f"up to {e.max_batch}",
        f"  time to first token {e.ttft_s * 1e3:,.1f} ms",
        f"  time per token     {e.tpot_s * 1e3:,.2f} ms (HBM floor at batch 1: "
        f"{e.hbm_floor_tpot_s * 1e3:,.2f} ms)",
        "                     "
        + ", ".join(f"{k} {v * 1e3:,.2f} ms" for k, v in e.decode_breakdown_s.items()),
        f"  throughput         {e.tokens_per_s_per_gpu:,.0f} output tokens/s per GPU",
        f"  memory per GPU     {fmt_bytes(e.memory_per_gpu_bytes['total'])} ("
        + ", ".join(f"{k} {fmt_bytes(v)}" for k, v in e.memory_per_gpu_bytes.items() if k != "total")
        + f"); {'fits' if e.fits_in_memory else 'DOES NOT FIT'}; max context {e.max_context_tokens:,} tokens",
        *under_load,
        f"  deployment         {e.replicas} replica(s), {e.gpus_needed} GPUs, {e.utilisation:.0%} busy"
        + (
            ""
            if e.meets_ttft_target is None
            else f"; p99 TTFT target {'met' if e.meets_ttft_target else 'MISSED'}, "
            f"p99 per-token target {'met' if e.meets_tpot_target else 'MISSED'}"
        ),
        f"  cost               {usd(e.usd_per_million_tokens)} per million tokens (input "
        f"{usd(e.usd_per_million_input_tokens)}, "
        f"output {usd(e.usd_per_million_output_tokens)}); {usd(e.monthly_cost_usd)} per month",
        f"  energy             {e.energy_kwh_per_month:,.0f} kWh per month"
        + (
            ""
            if e.energy_cost_usd_per_month is None
            else f", electricity {fmt_usd(e.energy_cost_usd_per_month)}"
        ),
        "",
    ]
    if not e.fits_in_memory:
        lines[-1:-1] = [
            f"  DOES NOT FIT: one replica needs {fmt_bytes(e.memory_per_gpu_bytes['total'])} per GPU, "
            f"{fmt_bytes(e.memory_shortfall_bytes)} more than the engine may use; no cost is given and the "
            "replica count above is hypothetical.",
            "  it would fit with: "
            + (
                "; ".join(e.fit_suggestions)
                if e.fit_suggestions
                else "no single change tried (quantisation, tp, batch 1) is enough"
            ),
        ]
    lines.append("assumptions:")
    lines += [
        f"  {k}: {json.dumps(v) if isinstance(v, dict | list) else v}" for k, v in e.assumptions.items()
    ]
    return "\n".join(lines) + "\n"


def _dashboard(args: argparse.Namespace) -> str:
    import subprocess
    from pathlib import Path

    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    if not app.exists():
        raise InputError(f"the dashboard is not installed beside the package (looked for {app})")
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app),
        "--server.port",
        str(args.port),
        "--server.address",
        args.address,
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",  # no Deploy button
        "--server.headless",
        "false" if args.browser else "true",
    ]  # headless: no first-run e-mail prompt
    sys.stderr.write(f"dashboard: http://{args.address}:{args.port}  (Ctrl-C stops it)\n")
    subprocess.run(cmd, check=False)
    return ""


def _report(args: argparse.Namespace) -> str:
    from pathlib import Path

    from estimator.report import build_report, check_writable, write_report

    out = check_writable(Path(args.output))
    report = build_report(args.scenarios or [None], alternatives=not args.no_alternatives, title=args.title)
    path = write_report(report, out)
    return f"wrote {path} ({path.stat().st_size:,} bytes)\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="estimator", description="Training-cost estimator for Transformer models."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="one training estimate from a scenario YAML")
    train.add_argument(
        "scenario",
        nargs="?",
        default=None,
        help="scenario YAML (default: the embedded GPT-3 175B on 1024 A100-80GB)",
    )
    train.add_argument("--format", choices=("table", "json", "csv"), default="table")
    train.set_defaults(func=_train)
    inf = sub.add_parser("infer", help="one inference / serving estimate")
    inf.add_argument(
        "scenario", nargs="?", default=None, help="inference scenario YAML (default: customer-service)"
    )
    inf.add_argument("--format", choices=("table", "json", "csv"), default="table")
    inf.set_defaults(func=_infer)
    rep = sub.add_parser(
        "report", help="a cost report (HTML, Markdown, PDF, JSON or CSV by the file extension)"
    )
    rep.add_argument(
        "scenarios", nargs="*", help="training and/or serving scenario YAMLs (several: a comparison)"
    )
    rep.add_argument(
        "-o", "--output", required=True, help="FILE.html, FILE.md, FILE.pdf, FILE.json or FILE.csv"
    )
    rep.add_argument("--title", default=None)
    rep.add_argument(
        "--no-alternatives", action="store_true", help="skip the planner's alternatives (faster)"
    )
    rep.set_defaults(func=_report)
    pl = sub.add_parser(
        "plan", help="ranked configurations that fit (the scenario's `plan` block sets the search)"
    )
    pl.add_argument(
        "scenario", nargs="?", default=None, help="scenario YAML (default: the embedded GPT-3 175B)"
    )
    pl.add_argument("--format", choices=("table", "json", "csv"), default="table")
    pl.add_argument("--top", type=bounded_int(1, 100_000), default=10, help="plans to show (1–100,000)")
    pl.add_argument("--objective", choices=("cost", "time", "pareto"), default=None)
    pl.set_defaults(func=_plan)
    sz = sub.add_parser("size", help="compute-optimal model size and tokens for a compute or dollar budget")
    sz.add_argument(
        "--compute-flops", type=bounded_float(0, 1e32, low_open=True), help="training FLOPs (0–1e32]"
    )
    sz.add_argument("--budget-usd", type=bounded_float(0, 1e13, low_open=True), help="dollars (0–1e13]")
    sz.add_argument("--hardware", default="h100-sxm-80gb")
    sz.add_argument(
        "--usd-per-gpu-hour",
        type=bounded_float(0, 1e5, low_open=True),
        help="price per GPU-hour (default: the profile's dated price)",
    )
    sz.add_argument(
        "--mfu",
        type=bounded_float(0, 1, low_open=True),
        default=0.40,
        help="model FLOPs utilisation, a fraction in (0, 1] (default 0.40)",
    )
    sz.add_argument("--format", choices=("table", "json"), default="table")
    sz.set_defaults(func=_size)
    dash = sub.add_parser(
        "dashboard", help="start the Streamlit dashboard (GPT-3 175B on 1024 A100-80GB loaded)"
    )
    dash.add_argument("--port", type=bounded_int(1, 65535), default=8501)
    dash.add_argument("--address", default="localhost")
    dash.add_argument("--browser", action="store_true", help="also open it in a local web browser")
    dash.set_defaults(func=_dashboard)
    val = sub.add_parser(
        "validate",
        help="predictions vs the published runs the project ships: in sample and leave-one-source-out",
    )
    val.add_argument("--format", choices=("table", "json"), default="table")
    val.add_argument(
        "--set",
        choices=("a100", "modern", "all"),
        default="all",
        help="a100: Megatron-LM 2021-22 (18 runs); modern: MLPerf, torchtitan, Megatron-Core, NeMo (50 runs)",
    )
    val.add_argument(
        "--fit", action="store_true", help="also show the calibration refitted per generation and profile"
    )
    val.add_argument(
        "--serving",
        action="store_true",
        help="the serving model against TensorRT-LLM's published tables (throughput and TTFT) instead",
    )
    val.add_argument(
        "--write",
        action="store_true",
        help="refit and write each hardware profile's calibration.fitted block "
        "(estimator validate --fit --write)",
    )
    val.set_defaults(func=_validate)
    from estimator.calibration.cli import add_parser as add_calibrate

    add_calibrate(sub)
    for group, func in (("models", _models_list), ("hardware", _hardware_list)):
        p = sub.add_parser(group, help=f"built-in {group}")
        gsub = p.add_subparsers(dest="action", required=True)
        lst = gsub.add_parser("list", help=f"list the built-in {group}")
        lst.add_argument("--format", choices=("table", "json"), default="table")
        lst.set_defaults(func=func)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Exit 0 on success, 2 on bad input (the message names the field), 1 on a defect
    (a short message asking for a report, never a traceback)."""
    args = build_parser().parse_args(argv)
    if args.command != "calibrate":  # estimates use no BLAS; its idle threads cost start-up CPU time
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # no third-party pydantic plugins in a CLI process: finding them scans every installed package's
    # entry points at the first schema build (tens of ms of start-up)
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    from pydantic import ValidationError

    from estimator.errors import format_validation_error

    func: Callable[[argparse.Namespace], str] = args.func
    as_json = getattr(args, "format", None) == "json"
    try:
        sys.stdout.write(func(args))
    except (InputError, ValidationError) as exc:
        text = format_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        if as_json:
            sys.stdout.write(json.dumps({"error": text}) + "\n")
        sys.stderr.write(f"error: {text}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return EXIT_DEFECT
    except Exception as exc:  # noqa: BLE001 - a defect: one line, not a traceback
        text = f"internal error ({type(exc).__name__}: {exc}); please report it with the command and scenario"
        if as_json:
            sys.stdout.write(json.dumps({"error": text, "defect": True}) + "\n")
        sys.stderr.write(f"error: {text}\n")
        return EXIT_DEFECT
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
