"""Evaluate the grid with the estimator's own formulas (as numpy columns), apply the constraints, rank.

Everything per row comes from `training.evaluate` called on `Columns` arrays: the very composition
`estimator train` calls with scalars (steps, price, energy, adapters, fine-tuning and MFU included).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from estimator.columns import Columns
from estimator.planner.plausibility import mfu_cap
from estimator.planner.space import DIMS, REASONS, build_grid, dimension_values, structural_reasons
from estimator.profiles import load_hardware
from estimator.specs.plan import PlanSpec
from estimator.specs.precision import PRECISIONS
from estimator.specs.scenario import Scenario
from estimator.specs.workload import PricingSpec
from estimator.training.evaluate import evaluate
from estimator.uncertainty import domain
from estimator.units import SECONDS_PER_DAY

RECOMPUTE_NAMES = ("none", "selective", "full", "selective-op")


@dataclass(frozen=True)
class RejectedChunk:
    """The rows of one (hardware, precision) chunk, compactly: the grid's axes and a reason code per row."""

    hardware: str
    precision: str
    values: dict[str, list[int]]
    reason: np.ndarray  # int8 index into REASONS, one per grid row (C order over DIMS)


@dataclass(frozen=True)
class PlanResult:
    """The plans that satisfy every rule (a DataFrame with their metrics) and, compactly, every
    configuration that does not, each with its reason."""

    table: pd.DataFrame
    configurations_generated: int  # the grid: every combination of the search's dimensions
    configurations_evaluated: (
        int  # of them, those whose layout is valid and whose cost, time and memory were computed
    )
    search_time_s: float
    chunks: tuple[RejectedChunk, ...] = ()

    @property
    def valid(self) -> pd.DataFrame:
        return self.table

    def reasons(self) -> pd.Series:
        """How many configurations each rule rejected ("" counts the valid ones)."""
        counts = np.zeros(len(REASONS), dtype=np.int64)
        for chunk in self.chunks:
            counts += np.bincount(chunk.reason, minlength=len(REASONS))
        return pd.Series(counts, index=list(REASONS), name="configurations")

    def unpriced_hardware(self) -> list[str]:
        """Profiles searched without a price (their plans cannot be ranked by cost or held to a budget)."""
        code = REASONS.index(
            "no price in the hardware profile (cannot be ranked by cost or held to a budget)"
        )
        return sorted({c.hardware for c in self.chunks if (c.reason == code).any()})

    def rejected(self, limit: int = 1000) -> pd.DataFrame:
        """Up to `limit` rejected configurations as rows with their reason."""
        rows: list[dict[str, Any]] = []
        for chunk in self.chunks:
            idx = np.flatnonzero(chunk.reason != 0)[: max(limit - len(rows), 0)]
            coords = np.unravel_index(idx, [len(chunk.values[d]) for d in DIMS])
            for j, i in enumerate(idx):
                row = {d: chunk.values[d][coords[k][j]] for k, d in enumerate(DIMS)}
                rows.append(
                    {
                        "hardware": chunk.hardware,
                        "precision": chunk.precision,
                        **row,
                        "reason": REASONS[chunk.reason[i]],
                    }
                )
        return pd.DataFrame(rows)


def columns_of(grid: dict[str, np.ndarray]) -> Columns:
    """The grid rows as the numeric columns every composition takes."""
    g = grid
    dp = g["gpus"] // (g["tp"] * g["pp"] * g["cp"])
    return Columns(
        gpus=g["gpus"],
        tp=g["tp"],
        pp=g["pp"],
        cp=g["cp"],
        ep=g["ep"],
        dp=dp,
        micro_batch=g["micro_batch"],
        virtual_stages=g["virtual_stages"],
        micro_batches=g["global_batch"] // (g["micro_batch"] * dp),
        global_batch=g["global_batch"],
        sp=g["sp"],
        zero=g["zero"],
        recompute=g["recompute"],
        schedule=np.where(g["virtual_stages"] > 1, 1, 0),
    )


def _chunk(
    sc: Scenario, plan: PlanSpec, grid: dict[str, np.ndarray], reason: np.ndarray
) -> dict[str, np.ndarray]:
    """Evaluate the structurally valid rows of one (hardware, precision) chunk with `training.evaluate`, the
    composition `estimator train` uses."""
    ok = reason == 0
    g = {k: v[ok] for k, v in grid.items()}
    n = len(g["gpus"])
    out: dict[str, np.ndarray] = {}
    if n == 0:
        return out
    cols = columns_of(g)
    ev = evaluate(sc, cols)
    total = np.asarray(ev.step_s, dtype=float)
    mem_total = np.asarray(ev.memory.total, dtype=float)
    usable = sc.hardware.memory_bytes * (1 - plan.memory_headroom)
    cap = mfu_cap(sc.hardware, sc.precision_policy.compute_dtype)
    validated = domain(sc).validated
    price = ev.usd_per_gpu_hour
    sub = np.zeros(n, dtype=np.int8)
    rules = [(mem_total > usable, 8), (ev.mfu > cap, 9)]  # see plausibility.py
    if plan.deadline_days:
        rules.append((ev.train_s > plan.deadline_days * SECONDS_PER_DAY, 10))
    if plan.budget_usd:
        rules.append((ev.cost_usd > plan.budget_usd, 11))
    if math.isnan(price) and (plan.budget_usd or plan.objective != "time"):
        rules.append((np.ones(n, dtype=bool), 12))
    for broken, code in reversed(rules):
        sub[(sub == 0) & broken] = code
    ones = np.ones(n)
    out = {
        "mfu_cap": np.full(n, cap),
        "step_time_s": total,
        "train_days": ev.train_days * ones,
        "gpu_hours": ev.gpu_hours * ones,
        "cost_usd": ev.cost_usd * ones,
        "usd_per_gpu_hour": np.full(n, price),
        "mfu": ev.mfu * ones,
        "hfu": ev.hfu * ones,
        "memory_per_gpu_bytes": mem_total,
        "memory_fraction": mem_total / usable,
        "energy_kwh": ev.energy_kwh * ones,
        "co2_kg": ev.co2_kg * ones,
        "dp": np.asarray(cols.dp),
        "step_time_s_low": ev.step_s_low * ones,
        "step_time_s_high": ev.step_s_high * ones,
        "train_days_low": ev.train_days * ev.step_s_low / total * ones,
        "train_days_high": ev.train_days * ev.step_s_high / total * ones,
        "cost_usd_low": ev.cost_usd_low * ones,
        "cost_usd_high": ev.cost_usd_high * ones,
        "validated": validated & ~((np.asarray(cols.cp) > 1) & (sc.training.seq_len < 16384)) & (ones > 0),
        **{f"t_{k}": np.asarray(v, dtype=float) * ones for k, v in ev.step.as_dict().items()},
    }
    full_reason = reason.copy()
    full_reason[ok] = sub
    out["_reason"] = full_reason
    out["_ok"] = ok
    return out


def plan(
    sc: Scenario,
    spec: PlanSpec | None = None,
    progress: bool = True,
    on_chunk: Callable[[int, int, str], None] | None = None,
) -> PlanResult:
    """Search the plan's space around scenario `sc`; every row evaluated, invalid ones with a reason."""
    spec = spec or sc.plan or PlanSpec()
    start = time.perf_counter()
    hardware = [load_hardware(h) for h in spec.hardware] or [sc.hardware]
    precisions = list(spec.precisions) or [sc.precision]
    batches = spec.global_batch or (sc.training.global_batch,)
    frames, kept, generated, evaluated = [], [], 0, 0
    chunks = [(hw, prec) for hw in hardware for prec in precisions]
    for i, (hw, prec) in enumerate(chunks):
        if PRECISIONS[prec].compute_dtype not in [
            k for k, v in hw.peak_flops_per_s.model_dump().items() if v
        ]:
            continue
        # a price given in the scenario is for its own hardware; other accelerators use their profile's price
        pricing = sc.pricing if hw.name == sc.hardware.name else PricingSpec()
        template = sc.model_copy(update={"hardware": hw, "precision": prec, "pricing": pricing})
        values = dimension_values(
            sc.model,
            spec,
            gpus_per_node=hw.gpus_per_node,
            seq_len=sc.training.seq_len,
            global_batches=batches,
            flash=sc.training.flash_attention,
        )
        grid = build_grid(values)
        reason = structural_reasons(grid, sc.model)
        res = _chunk(template, spec, grid, reason)
        generated += len(reason)
        evaluated += int((reason == 0).sum())
        final = res.pop("_reason", reason)
        ok = res.pop("_ok", np.zeros(len(reason), dtype=bool))
        kept.append(RejectedChunk(hw.name, prec, values, final))
        frames.append(_frame(grid, res, ok, final, hw.name, prec))
        if on_chunk is not None:  # a caller's progress bar (the dashboard)
            on_chunk(i + 1, len(chunks), f"{hw.name} {prec}: {evaluated:,} layouts evaluated")
        if progress and time.perf_counter() - start > 1.0:
            sys.stderr.write(
                f"\r[{i + 1}/{len(chunks)}] {hw.name} {prec}: {generated:,} configurations generated, "
                f"{evaluated:,} evaluated"
            )
            sys.stderr.flush()
    if progress and time.perf_counter() - start > 1.0:
        sys.stderr.write("\n")
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return PlanResult(table, generated, evaluated, time.perf_counter() - start, tuple(kept))


def _frame(
    grid: dict[str, np.ndarray],
    res: dict[str, np.ndarray],
    ok: np.ndarray,
    final: np.ndarray,
    hw: str,
    prec: str,
) -> pd.DataFrame:
    """The valid rows of a chunk with their metrics (structurally valid rows that later failed a rule
    are dropped here and kept in the chunk's reason codes)."""
    keep = final[ok] == 0
    data: dict[str, Any] = {"hardware": hw, "precision": prec}
    data.update({d: grid[d][ok][keep] for d in DIMS})
    data.update({k: v[keep] for k, v in res.items()})
    frame = pd.DataFrame(data)
    frame["recompute"] = np.asarray(RECOMPUTE_NAMES)[frame["recompute"].to_numpy()]
    frame["sequence_parallel"] = frame.pop("sp").astype(bool)
    return frame
