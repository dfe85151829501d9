"""Predictions against the published, measured runs the project ships (estimator/data/public_runs.yaml,
a copy of shared/calibration/public_runs.yaml): Narayanan et al. 2021 Table 1 and Korthikanti et al. 2022
Table 5. Nothing is fitted per run: each run becomes a scenario from its published configuration only."""

from __future__ import annotations

import functools
import re
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from estimator.scenario_io import scenario_from_dict
from estimator.specs.scenario import Scenario
from estimator.textio import read_yaml

RUNS_FILE = Path(__file__).resolve().parent / "data" / "public_runs.yaml"
_GPUS = {"NVIDIA A100 SXM 80GB": "a100-sxm-80gb"}


@dataclass(frozen=True)
class ValidationRow:
    run: str
    source: str
    gpus: int
    layout: str
    measured_s: float
    predicted_s: float

    @property
    def error(self) -> float:
        """(predicted − measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error": self.error}


def _virtual_stages(text: str | None) -> int:
    found = re.search(r"(\d+)", text or "")
    return (
        int(found.group(1)) if found and ("virtual" in (text or "") or "interleaved" in (text or "")) else 1
    )


def run_scenario(run: dict[str, Any]) -> Scenario:
    """The scenario of one published run, from its reported configuration."""
    m, hw, par = run["model"], run["hardware"], run["parallelism"]
    recompute = (
        "selective"
        if "selective" in str(par["recompute"])
        else "full"
        if "full" in str(par["recompute"])
        else "none"
    )
    return scenario_from_dict(
        {
            "name": run["id"],
            "model": {
                "name": m["name"],
                "architecture": "decoder",
                "n_layers": m["layers"],
                "d_model": m["d_model"],
                "n_heads": m["heads"],
                "n_kv_heads": m["kv_heads"],
                "d_head": m["head_dim"],
                "d_ff": m["ffn_dim"],
                "vocab_size": m["vocab"],
                "max_seq_len": m["seq_len"],
                "ffn": "gelu",
                "norm": "layernorm",
                "position": "learned",
                "tie_embeddings": True,
                "bias": True,
                "dropout": 0.1,
                "source": run["source"]["default"],
            },
            "hardware": _GPUS[hw["gpu"]],
            "gpus": hw["count"],
            "parallelism": {
                "tp": par["tp"],
                "pp": par["pp"],
                "micro_batch": par["micro_batch"],
                "recompute": recompute,
                "sequence_parallel": bool(par["sequence_parallel"]),
                "zero_stage": 0,
                "virtual_stages": _virtual_stages(par.get("virtual_pp_or_interleave")),
            },
            "precision": "fp16-mixed",
            "training": {
                "tokens": float(par["global_batch_seqs"] * m["seq_len"]),
                "global_batch": par["global_batch_seqs"],
                "seq_len": m["seq_len"],
                "flash_attention": False,
            },
            # Megatron-LM (2021-22) all-reduces data-parallel gradients after the pipeline flush (local DDP)
            "assumptions": {"overlap_grad_reduce": False},
        }
    )


def measured_iteration_s(run: dict[str, Any]) -> float | None:
    reported = run["reported"].get("iteration_time_s")
    if reported:
        return float(reported)
    derived = (run.get("derived") or {}).get("iteration_time_s")
    return float(derived["value"]) if isinstance(derived, dict) else None


@functools.cache
def usable_runs() -> tuple[dict[str, Any], ...]:
    """Runs with a measured (or Eq. 3-derived) iteration time and a full published layout."""
    doc = read_yaml(RUNS_FILE)
    return tuple(
        r for r in doc["runs"] if r["kind"] == "measured_throughput_benchmark" and measured_iteration_s(r)
    )


def validate() -> list[ValidationRow]:
    """Predicted vs measured iteration time for every usable run."""
    from estimator.training.step import step_time

    rows = []
    for run in usable_runs():
        sc = run_scenario(run)
        p = sc.parallelism
        sp = " sp" if p.sequence_parallel else ""
        layout = f"tp{p.tp} pp{p.pp} dp{sc.dp} mb{p.micro_batch} v{p.virtual_stages} {p.recompute}{sp}"
        rows.append(
            ValidationRow(
                run["id"],
                run["group"],
                sc.gpus,
                layout,
                measured_iteration_s(run) or 0.0,
                float(step_time(sc).total),
            )
        )
    return rows


BAND_FILE = Path(__file__).resolve().parent / "data" / "validation_band.yaml"


def band_record() -> dict[str, Any]:
    """What estimates need from the validation, computed afresh: the residual band (measured/predicted − 1,
    smallest and largest), the hardware it covers, and the best measured MFU (FLOPs as the kernels execute
    them) with the GEMM efficiency it ran at. Stored by `estimator validate --write`; estimates read the
    stored copy and never run the validation themselves."""
    from estimator.roofline import resolve_efficiencies
    from estimator.training.evaluate import sample_flops

    rows = validate()
    residuals = [r.measured_s / r.predicted_s - 1 for r in rows]
    best, best_run, ref_gemm = 0.0, "", 1.0
    for run in usable_runs():
        sc = run_scenario(run)
        eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
        model = sample_flops(sc, "none", executed=True).model * sc.training.global_batch
        mfu = model / ((measured_iteration_s(run) or 1.0) * sc.gpus * eff.peak_flops_per_s)
        if mfu > best:
            best, best_run, ref_gemm = mfu, run["id"], eff.gemm_max
    return {
        "residual_low": min(residuals),
        "residual_high": max(residuals),
        "runs": len(rows),
        "hardware": sorted(validated_hardware()),
        "best_mfu": best,
        "best_mfu_run": best_run,
        "best_mfu_gemm_max": ref_gemm,
    }


def write_band(path: Path = BAND_FILE) -> dict[str, Any]:
    """Store `band_record()` with its provenance (the date and the command that made it)."""
    import datetime

    import yaml

    record = {
        **band_record(),
        "date": datetime.date.today().isoformat(),
        "command": "estimator validate --write",
        "note": "written by the command above from the published runs of estimator/data/public_runs.yaml; "
        "tests hold it equal to what the validation computes",
    }
    path.write_text(yaml.safe_dump(record, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return record


@functools.cache
def stored_band() -> dict[str, Any]:
    """The stored validation band (see `write_band`)."""
    data: dict[str, Any] = read_yaml(BAND_FILE)
    return data


def validated_hardware() -> frozenset[str]:
    """Profiles the validation runs ran on."""
    return frozenset(_GPUS[r["hardware"]["gpu"]] for r in usable_runs())


def summary(rows: list[ValidationRow]) -> dict[str, float]:
    errors = [abs(r.error) for r in rows]
    return {
        "runs": float(len(rows)),
        "median_abs_error": float(statistics.median(errors)),
        "mean_abs_error": statistics.fmean(errors),
        "max_abs_error": max(errors),
        "mean_error": statistics.fmean(r.error for r in rows),
    }


def fit_training_gemm_fraction() -> dict[str, float]:
    """Refit the one global constant (efficiency_defaults.yaml: training_gemm_fraction) by golden-section
    search on the mean |log(predicted/measured)|, over all runs and over each paper alone."""
    import dataclasses
    import math

    from estimator.roofline import resolve_efficiencies
    from estimator.training.step import step_time

    runs = []
    for r in usable_runs():
        sc = run_scenario(r)
        runs.append(
            (
                sc,
                measured_iteration_s(r) or 1.0,
                r["group"],
                resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype),
            )
        )

    def loss(scale: float, group: str | None) -> float:
        return statistics.fmean(
            abs(
                math.log(
                    step_time(
                        sc,
                        dataclasses.replace(
                            e, gemm_max=e.gemm_max * scale, attention_max=e.attention_max * scale
                        ),
                    ).total
                    / t
                )
            )
            for sc, t, g, e in runs
            if group in (None, g)
        )

    def search(group: str | None) -> float:
        lo, hi = 0.7, 1.3
        for _ in range(40):
            a, b = lo + 0.382 * (hi - lo), lo + 0.618 * (hi - lo)
            lo, hi = (lo, b) if loss(a, group) < loss(b, group) else (a, hi)
        return (lo + hi) / 2

    from estimator.roofline import efficiency_defaults

    base = float(efficiency_defaults()["training_gemm_fraction"]["value"])
    out = {"all_runs": base * search(None)}
    for group in sorted({g for _, _, g, _ in runs}):
        out[group] = base * search(group)
    return out
