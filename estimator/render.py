"""Human-facing text formats of a training estimate: a table, JSON and CSV. No arithmetic beyond units."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from estimator.results import TrainingEstimate
from estimator.units import SECONDS_PER_DAY, GiB, fmt_bytes, fmt_count, fmt_duration, fmt_usd


def to_json(est: TrainingEstimate) -> str:
    return json.dumps(est.to_json_dict(), indent=2)


def flatten(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            flatten(f"{prefix}[{i}]", v, out)
    else:
        out.append((prefix, value))


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell safe to open in a spreadsheet: text starting with = + - @ tab or CR gets a leading ' (the
    OWASP rule against CSV formula injection); numbers and other values are written as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def to_csv(est: TrainingEstimate) -> str:
    """One `key,value` row per leaf of the JSON (nested keys joined with dots); SI units as in the JSON."""
    return flat_csv(est.to_json_dict())


def flat_csv(doc: dict[str, Any]) -> str:
    """`key,value` rows of a nested JSON document (keys joined with dots, list items with [i])."""
    rows: list[tuple[str, Any]] = []
    flatten("", doc, rows)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["key", "value"])
    writer.writerows((csv_cell(k), csv_cell(v)) for k, v in rows)
    return buf.getvalue()


def _days(d: float) -> str:
    return f"{d:,.1f}"


def _range(lo: float, hi: float, fmt: Any) -> str:
    return f"{fmt(lo)} – {fmt(hi)}"


def to_table(est: TrainingEstimate) -> str:
    """A readable summary with units; the assumptions are printed under it."""
    e, a = est, est.assumptions
    mem = e.memory_per_gpu_bytes
    if not e.fits_in_memory:
        cost = "not priced: the configuration does not fit in memory (see below)"
    elif e.cost_usd is None:
        cost = "n/a (no price: set pricing.usd_per_gpu_hour)"
    else:
        cost = fmt_usd(e.cost_usd)
    cost_range = "" if e.cost_usd_range is None else f"  (range {_range(*e.cost_usd_range, fmt_usd)})"
    price = (
        "" if e.usd_per_gpu_hour is None or e.cost_usd is None else f" at ${e.usd_per_gpu_hour:.2f}/GPU-hour"
    )
    days = e.train_time_s / SECONDS_PER_DAY
    days_low, days_high = (t / SECONDS_PER_DAY for t in e.train_time_s_range)
    lines = [
        f"{e.scenario}: {e.model} on {e.gpus} × {e.hardware} (dp {e.dp}, {e.micro_batches} "
        "micro-batches/step)",
        "",
        f"  parameters          {fmt_count(e.params_total)} total, {fmt_count(e.params_active)} active",
        f"  FLOPs               {e.flops_model_total:.3e} model FLOPs in total (6ND: "
        f"{e.flops_6nd_total:.3e})",
        f"                      {e.flops_model_per_step:.3e} model / {e.flops_hardware_per_step:.3e} "
        "hardware per step",
        f"  step time           {fmt_duration(e.step_time_s)}  (range "
        f"{_range(*e.step_time_s_range, fmt_duration)})",
        "                      " + ", ".join(f"{k} {fmt_duration(v)}" for k, v in e.time_breakdown_s.items()),
        f"  throughput          {e.tokens_per_s:,.0f} tokens/s, {e.tflops_per_gpu:.1f} model TFLOP/s per GPU,"
        f" MFU {e.mfu:.1%}, HFU {e.hfu:.1%}",
        f"  training            {e.steps:,} steps, {days:,.1f} days  (range "
        f"{_range(days_low, days_high, _days)} days)",
        f"  GPU-hours           {e.gpu_hours:,.0f}  (range "
        f"{_range(*e.gpu_hours_range, lambda h: f'{h:,.0f}')})",
        f"  cost                {cost}{price}{cost_range}",
        f"  energy              {e.energy_kwh / 1000:,.1f} MWh, {e.co2_kg / 1000:,.1f} t CO2e "
        f"(board power: {e.assumptions['energy']['board_power']})"
        + (
            ""
            if e.energy_cost_usd is None
            else f", electricity {fmt_usd(e.energy_cost_usd)} (not in the cost above)"
        ),
        f"  memory per GPU      {fmt_bytes(mem['total'])} of {fmt_bytes(e.memory_capacity_bytes)}"
        f" ({'fits' if e.fits_in_memory else 'DOES NOT FIT'}; {e.memory_stage} pipeline stage)",
        "                      "
        + ", ".join(
            f"{k} {mem[k] / GiB:,.2f}" for k in ("weights", "gradients", "optimizer", "activations", "other")
        )
        + " GiB",
        "",
    ]
    if not e.fits_in_memory:
        lines[-1:-1] = [
            f"  DOES NOT FIT: needs {fmt_bytes(mem['total'])} per GPU, "
            f"{fmt_bytes(e.memory_shortfall_bytes)} more "
            f"than the {fmt_bytes(e.memory_capacity_bytes)} available; no cost is given.",
            "  it would fit with: "
            + (
                "; ".join(e.fit_suggestions)
                if e.fit_suggestions
                else "no single change tried (recompute, ZeRO, tp, pp, GPUs) is enough"
            ),
        ]
    lines.append("assumptions:")
    for key, value in a.items():
        shown = json.dumps(value) if isinstance(value, dict | list) else str(value)
        lines.append(f"  {key}: {shown}")
    return "\n".join(lines) + "\n"
