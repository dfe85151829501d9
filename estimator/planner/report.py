"""`estimator plan` output: the top plans as a table, JSON (each plan a scenario plus its estimate) or CSV."""

from __future__ import annotations

import json
from typing import Any

from estimator.planner.rank import plan_scenario, rank
from estimator.planner.search import PlanResult
from estimator.render import csv_cell
from estimator.scenario_io import scenario_from_dict
from estimator.specs.plan import PlanSpec
from estimator.specs.scenario import Scenario
from estimator.training import estimate_training
from estimator.units import GiB, fmt_usd

COLUMNS = [
    "hardware",
    "precision",
    "gpus",
    "tp",
    "pp",
    "cp",
    "ep",
    "dp",
    "micro_batch",
    "virtual_stages",
    "zero",
    "recompute",
    "sequence_parallel",
    "global_batch",
    "step_time_s",
    "train_days",
    "gpu_hours",
    "cost_usd",
    "cost_usd_low",
    "cost_usd_high",
    "validated",
    "mfu",
    "mfu_cap",
    "memory_per_gpu_bytes",
    "memory_fraction",
    "energy_kwh",
]


def top_plans(sc: Scenario, result: PlanResult, spec: PlanSpec, top: int) -> list[dict[str, Any]]:
    """The best plans, each a complete scenario plus the full estimate `estimator train` gives for it."""
    out = []
    for i, (_, row) in enumerate(rank(result.table, spec.objective, top, spec.rank_by).iterrows(), start=1):
        scenario = plan_scenario(sc, row, i)
        est = estimate_training(scenario_from_dict(scenario)).to_json_dict()
        out.append(
            {
                "rank": i,
                "scenario": scenario,
                "estimate": est,
                "near_memory_limit": bool(row["memory_fraction"] > spec.near_memory_fraction),
                "near_mfu_ceiling": bool(row["mfu"] > 0.97 * row["mfu_cap"]),
                "mfu_ceiling": float(row["mfu_cap"]),
                "validated_domain": bool(row["validated"]),
                "ranked_by": f"{spec.rank_by} end of the range",
                "grid_step_time_s": float(row["step_time_s"]),
            }
        )
    return out


def to_json(sc: Scenario, result: PlanResult, spec: PlanSpec, top: int) -> str:
    doc = {
        "configurations_generated": result.configurations_generated,
        "configurations_evaluated": result.configurations_evaluated,
        "search_time_s": result.search_time_s,
        "configurations_per_s": result.configurations_evaluated / max(result.search_time_s, 1e-9),
        "valid_plans": len(result.table),
        "objective": spec.objective,
        "rejected_by_reason": {k or "valid": int(v) for k, v in result.reasons().items()},
        "unpriced_hardware": result.unpriced_hardware(),
        "constraints": spec.model_dump(mode="json"),
        "plans": top_plans(sc, result, spec, top),
    }
    return json.dumps(doc, indent=2) + "\n"


def to_csv(result: PlanResult, spec: PlanSpec, top: int) -> str:
    table = rank(result.table, spec.objective, top, spec.rank_by)
    frame = table[[c for c in COLUMNS if c in table]].copy()
    frame["near_memory_limit"] = frame["memory_fraction"] > spec.near_memory_fraction
    for column in frame.columns:
        if frame[column].dtype.kind == "O":  # text columns only; numbers are written as they are
            frame[column] = frame[column].map(csv_cell)
    return str(frame.to_csv(index=False))


def to_table(result: PlanResult, spec: PlanSpec, top: int) -> str:
    table = rank(result.table, spec.objective, top, spec.rank_by)
    lines = [
        f"{result.configurations_generated:,} configurations generated, {result.configurations_evaluated:,} "
        "with a "
        f"valid layout evaluated in {result.search_time_s:.2f} s "
        f"({result.configurations_evaluated / max(result.search_time_s, 1e-9):,.0f} evaluated/s); "
        f"{len(result.table):,} satisfy every rule; "
        f"objective: {spec.objective}",
        "",
        f"{'#':>2} {'hardware':<15} {'GPUs':>5} {'tp':>3} {'pp':>3} {'cp':>3} {'dp':>4} {'mb':>3} {'v':>2} "
        f"{'ZeRO':>4} "
        f"{'recompute':<12} {'sp':<3} {'step':>8} {'days':>7} {'cost':>10} {'cost range':>21} {'MFU':>6} "
        f"{'mem GiB':>8}",
    ]
    for i, (_, r) in enumerate(table.iterrows(), start=1):
        flag = (
            (" !" if r["memory_fraction"] > spec.near_memory_fraction else "")
            + (" ^" if r["mfu"] > 0.97 * r["mfu_cap"] else "")
            + ("" if r["validated"] else " ?")
        )
        span = f"{fmt_usd(r['cost_usd_low'])}–{fmt_usd(r['cost_usd_high'])}"
        lines.append(
            f"{i:>2} {r['hardware']:<15} {int(r['gpus']):>5} {int(r['tp']):>3} {int(r['pp']):>3} "
            f"{int(r['cp']):>3} "
            f"{int(r['dp']):>4} {int(r['micro_batch']):>3} {int(r['virtual_stages']):>2} {int(r['zero']):>4} "
            f"{r['recompute']:<12} {'yes' if r['sequence_parallel'] else 'no':<3} {r['step_time_s']:>7.2f}s "
            f"{r['train_days']:>7.1f} {fmt_usd(r['cost_usd']):>10} {span:>21} {r['mfu']:>6.1%} "
            f"{r['memory_per_gpu_bytes'] / GiB:>8.1f}{flag}"
        )
    lines += [
        "",
        "! = above the near-memory fraction of usable memory; usable = capacity × (1 − headroom "
        f"{spec.memory_headroom:.0%}). ^ = within 3 % of the MFU ceiling (the best MFU a published run "
        "reached on that hardware generation). ? = outside the validated domain (see `estimator train` for "
        f"why); its range is wider. Ranked by the {spec.rank_by} end of each plan's cost range.",
        "rejected: " + ", ".join(f"{k} {int(v):,}" for k, v in result.reasons().items() if k and v),
    ]
    if result.unpriced_hardware():
        lines.append(
            "no price in the profiles of: "
            + ", ".join(result.unpriced_hardware())
            + " (give pricing.usd_per_gpu_hour in the scenario for its own hardware, or add a price to the "
            "profile)"
        )
    return "\n".join(lines) + "\n"
