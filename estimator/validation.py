"""Predictions against published, measured training runs, and the calibration fitted on them.

Two sets ship with the project:
- `a100`: estimator/data/public_runs.yaml (a copy of shared/calibration/public_runs.yaml): Narayanan et al.
  2021 Table 1 and Korthikanti et al. 2022 Table 5, Megatron-LM on A100 (18 runs).
- `modern`: estimator/data/modern_runs.yaml (a copy of shared/calibration/modern_runs.yaml): MLPerf Training
  v3.0–v5.0, torchtitan, the Megatron-Core README table and NeMo 24.07 on H100/H200/B200/GB200/MI300X/
  MI325X (50 runs), each written as a scenario in estimator/data/run_scenarios.yaml from its published
  configuration, with what the source leaves unstated listed as assumptions.

The calibration (`fit`) has a few physical parameters per hardware generation: the share of the best-shape
GEMM throughput a training step sustains (per precision), the HBM efficiency of non-GEMM kernels and a
fixed cost per step. Nothing is fitted per run. Accuracy is quoted leave-one-source-out: each family of
runs (a paper, a benchmark table, a benchmark series) is predicted by the calibration fitted without it.
"""

from __future__ import annotations

import copy
import functools
import math
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from estimator.scenario_io import scenario_from_dict
from estimator.specs.hardware import FittedCalibration
from estimator.specs.scenario import Scenario
from estimator.textio import read_yaml, rounded_rows, write_dated_record

DATA = Path(__file__).resolve().parent / "data"
RUNS_FILE = DATA / "public_runs.yaml"
MODERN_RUNS_FILE = DATA / "modern_runs.yaml"
RUN_SCENARIOS_FILE = DATA / "run_scenarios.yaml"
PROFILES_DIR = Path(__file__).resolve().parent.parent / "hardware_profiles"
SetName = Literal["a100", "modern", "all"]
SETS: tuple[SetName, ...] = ("a100", "modern", "all")
FIT_COMMAND = "estimator validate --fit --write"
_GPUS = {"NVIDIA A100 SXM 80GB": "a100-sxm-80gb"}
_A100_FAMILIES = {
    "megatron_lm_2021_table1_weak_scaling": "narayanan-2021-table1",
    "korthikanti_2022_table5_end_to_end": "korthikanti-2022-table5",
}
# bounds of the fitted parameters: physically plausible ranges, not tuning knobs
BOUNDS = {"sustained": (0.35, 1.15), "memory": (0.3, 1.0), "overhead": (0.0, 0.5), "network": (0.3, 1.0)}


@dataclass(frozen=True)
class Run:
    """One published run: its scenario, the measured seconds per optimizer step and where it comes from."""

    id: str
    set: Literal["a100", "modern"]
    family: str
    group: str
    scenario: Scenario
    measured_s: float
    assumed: tuple[str, ...] = ()

    @property
    def hardware(self) -> str:
        return self.scenario.hardware.name

    @property
    def generation(self) -> str:
        return self.scenario.hardware.generation or self.scenario.hardware.name

    @property
    def dtype(self) -> str:
        return self.scenario.precision_policy.compute_dtype

    @property
    def layout(self) -> str:
        sc = self.scenario
        p = sc.parallelism
        parts = [f"tp{p.tp}", f"pp{p.pp}"]
        parts += [f"cp{p.cp}"] if p.cp > 1 else []
        parts += [f"dp{sc.dp}", f"mb{p.micro_batch}"]
        parts += [f"v{p.virtual_stages}"] if p.virtual_stages > 1 else []
        parts += [f"z{p.effective_zero_stage}"] if p.effective_zero_stage else []
        parts += [p.recompute] if p.recompute != "none" else []
        parts += ["sp"] if p.sequence_parallel else []
        return " ".join(parts)


# ---------------------------------------------------------------------------------------------------- runs


def _virtual_stages(text: str | None) -> int:
    found = re.search(r"(\d+)", text or "")
    return (
        int(found.group(1)) if found and ("virtual" in (text or "") or "interleaved" in (text or "")) else 1
    )


def run_scenario(run: dict[str, Any]) -> Scenario:
    """The scenario of one A100 run of public_runs.yaml, from its reported configuration."""
    m, hw, par = run["model"], run["hardware"], run["parallelism"]
    recompute = (
        "selective"
        if "selective" in str(par["recompute"])
        else "full"
        if "full" in str(par["recompute"])
        else "none"
    )
    sc = scenario_from_dict(
        {
            "name": run["id"],
            "stack": "megatron-lm-2021",
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
            },
        }
    )
    if not _unstated_interleaving(run):
        return sc
    practice = _sibling_virtual_stages(run)
    per_stage = m["layers"] // par["pp"]
    v = max(d for d in range(1, min(practice, per_stage) + 1) if per_stage % d == 0)
    return sc.model_copy(update={"parallelism": sc.parallelism.model_copy(update={"virtual_stages": v})})


def _unstated_interleaving(run: dict[str, Any]) -> bool:
    """A pipelined run whose source does not say whether it interleaved while the same table states it for
    its other pipelined runs (Korthikanti et al. 2022: three virtual stages for 175B and 530B, nothing for
    1T)."""
    par = run["parallelism"]
    return (
        par["pp"] > 1
        and par.get("virtual_pp_or_interleave") == "none stated"
        and _sibling_virtual_stages(run) > 1
    )


def _sibling_virtual_stages(run: dict[str, Any]) -> int:
    """The most virtual stages the other runs of the same table state (1 if none states any)."""
    stated = [
        _virtual_stages(r["parallelism"].get("virtual_pp_or_interleave"))
        for r in usable_runs()
        if r["group"] == run["group"] and r["parallelism"].get("virtual_pp_or_interleave") != "none stated"
    ]
    return max(stated, default=1)


def _a100_assumed(run: dict[str, Any], sc: Scenario) -> tuple[str, ...]:
    notes = ["Megatron-LM 2021 stack; fp16 mixed precision as the papers"]
    if _unstated_interleaving(run):
        notes.append(
            f"interleaving not stated for this run: the table's practice ({_sibling_virtual_stages(run)} "
            f"virtual stages on its other pipelined runs) as far as {sc.model.n_layers} layers on "
            f"{sc.parallelism.pp} stages allow: {sc.parallelism.virtual_stages}"
        )
    return tuple(notes)


def measured_iteration_s(run: dict[str, Any]) -> float | None:
    reported = (run.get("reported") or {}).get("iteration_time_s")
    if isinstance(reported, int | float) and reported:
        return float(reported)
    derived = (run.get("derived") or {}).get("iteration_time_s")
    if isinstance(derived, dict):
        return float(derived["value"])
    return float(derived) if isinstance(derived, int | float) else None


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, mappings merged key by key (a string model replaces a mapping)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@functools.cache
def _run_files() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    return read_yaml(RUN_SCENARIOS_FILE), {r["id"]: r for r in read_yaml(MODERN_RUNS_FILE)["runs"]}


def modern_scenario(run_id: str) -> tuple[Scenario, str, tuple[str, ...]]:
    """(scenario, family, assumptions) of one run of modern_runs.yaml, from run_scenarios.yaml."""
    spec, by_id = _run_files()
    source = by_id[run_id]
    entry = dict(spec["runs"][run_id])
    if entry.pop("lora", False):
        family, base, assumed = spec["lora_family"], spec["lora_scenario"], spec["lora_assumed"]
    else:
        group = spec["groups"][source["group"]]
        family, base, assumed = group["family"], group["scenario"], group.get("assumed", [])
    data = _merge(base, entry)
    train = data.setdefault("training", {})
    train.setdefault("tokens", float(train["global_batch"] * train["seq_len"]))
    data["name"] = run_id
    sc = scenario_from_dict(data)
    notes = [str(a) for a in assumed]
    for knob in group_tuned(source, spec):
        sc = tuned(sc, knob)
        notes.append(f"{knob.replace('_', '-')} {getattr(sc.parallelism, knob)} (tuned, see above)")
    return sc, family, tuple(notes)


def group_tuned(source: dict[str, Any], spec: dict[str, Any]) -> tuple[str, ...]:
    """The knobs a run's source leaves unstated that its authors tuned (run_scenarios.yaml `tuned:`)."""
    return tuple(spec["groups"].get(source.get("group", ""), {}).get("tuned", ()))


def tuned(sc: Scenario, knob: str) -> Scenario:
    """`sc` with the micro-batch (the one knob this supports) that a tuner of a published performance table
    would pick where the source does not state it: the fastest by this model among the divisors of the
    per-replica batch that fit in memory. The choice uses the documented default efficiencies, never a
    fitted calibration or the measured time, so no measurement enters it (under pipeline parallelism it is
    1, whose many micro-batches shrink the bubble; without it the largest that fits, whose single backward
    hides the gradient reduction)."""
    from pydantic import ValidationError

    from estimator.roofline import resolve_efficiencies
    from estimator.training import estimate_training
    from estimator.training.step import step_time

    if knob != "micro_batch":
        raise ValueError(f"tuned: {knob!r} cannot be tuned (only micro_batch)")
    per_replica = sc.training.global_batch // sc.dp
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype, False)
    best: tuple[float, Scenario] | None = None
    for value in (d for d in range(1, per_replica + 1) if per_replica % d == 0):
        data = sc.model_dump()
        data["parallelism"][knob] = value
        try:
            trial = type(sc).model_validate(data)
        except ValidationError:  # a layout the stack cannot run (interleaving with too few micro-batches)
            continue
        if not estimate_training(trial).fits_in_memory:
            continue
        seconds = float(step_time(trial, eff).total)
        if best is None or seconds < best[0]:
            best = (seconds, trial)
    return best[1] if best else sc


@functools.cache
def usable_runs() -> tuple[dict[str, Any], ...]:
    """A100 runs with a measured (or Eq. 3-derived) iteration time and a full published layout."""
    doc = read_yaml(RUNS_FILE)
    return tuple(
        r for r in doc["runs"] if r["kind"] == "measured_throughput_benchmark" and measured_iteration_s(r)
    )


@functools.cache
def runs(which: SetName = "all") -> tuple[Run, ...]:
    """The validation runs of a set, as scenarios."""
    out: list[Run] = []
    if which in ("a100", "all"):
        for r in usable_runs():
            sc = run_scenario(r)
            out.append(
                Run(
                    r["id"],
                    "a100",
                    _A100_FAMILIES[r["group"]],
                    r["group"],
                    sc,
                    measured_iteration_s(r) or 0.0,
                    _a100_assumed(r, sc),
                )
            )
    if which in ("modern", "all"):
        for r in _run_files()[1].values():
            sc, family, assumed = modern_scenario(r["id"])
            out.append(
                Run(r["id"], "modern", family, r["group"], sc, measured_iteration_s(r) or 0.0, assumed)
            )
    return tuple(out)


def unexpressible_runs() -> list[tuple[str, str]]:
    """Runs of the shipped files that no scenario can write down yet, with the missing feature (none today:
    every run of public_runs.yaml with a measured step and all 50 of modern_runs.yaml are expressed)."""
    listed = set(read_yaml(RUN_SCENARIOS_FILE)["runs"])
    return [
        (r["id"], "not written as a scenario in run_scenarios.yaml")
        for r in read_yaml(MODERN_RUNS_FILE)["runs"]
        if r["id"] not in listed
    ]


# ------------------------------------------------------------------------------------------- prediction


@functools.cache
def _prepared(run_id: str) -> tuple[Any, Any]:
    """The run's columns and stage ledgers (independent of the calibration: built once)."""
    from estimator.columns import Columns
    from estimator.training.step import stage_ledgers

    run = _by_id()[run_id]
    c = Columns.from_scenario(run.scenario)
    return c, stage_ledgers(run.scenario, c)


@functools.cache
def _by_id() -> dict[str, Run]:
    return {r.id: r for r in runs("all")}


def predict_s(run: Run, fitted: FittedCalibration | None | bool = True) -> float:
    """Predicted seconds per step of `run` under a generation calibration (True: the profile's own)."""
    from estimator.roofline import resolve_efficiencies
    from estimator.training.step import step_time

    sc = run.scenario
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype, fitted)
    c, ledgers = _prepared(run.id)
    return float(step_time(sc, eff, c, ledgers).total)


def run_mfu(run: Run) -> float:
    """Measured MFU of a run: model FLOPs per step (matmuls, PaLM App. B) ÷ (measured step × GPUs × peak)."""
    from estimator.training.evaluate import sample_flops

    sc = run.scenario
    flops = sample_flops(sc, "none", executed=True).model * sc.training.global_batch
    return flops / (run.measured_s * sc.gpus * sc.hardware.peak(sc.precision_policy.compute_dtype))


# ---------------------------------------------------------------------------------------------- fitting


def _sustained_for(values: dict[str, Any], dtype: str) -> Any:
    """The sustained share a run of `dtype` uses under the candidate `values` (roofline.sustained_fraction's
    rule within one fit: its own precision, else a 16-bit share, else the documented default; the
    attention of fp8 runs asks for the 16-bit share)."""
    from estimator.roofline import efficiency_defaults

    if dtype in values:
        return values[dtype]
    for wide in {"fp16": ("bf16",), "bf16": ("fp16",)}.get(dtype, ("bf16", "fp16")):
        if wide in values:
            return values[wide]
    return float(efficiency_defaults()["training_gemm_fraction"]["value"])


def _predict_grid(run: Run, sustained: dict[str, Any], memory: Any, overhead: Any, network: Any) -> Any:
    """Predicted seconds of `run` for arrays of calibration values at once (the formulas are array-safe):
    the documented-default efficiencies rescaled to each candidate."""
    from dataclasses import replace

    from estimator.roofline import Efficiencies, efficiency_defaults, resolve_efficiencies, sustained_fraction
    from estimator.training.step import step_time

    sc = run.scenario
    base = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype, False)
    default, _ = sustained_fraction(None, run.dtype)  # type: ignore[arg-type]

    def scaled(eff: Efficiencies, share: Any) -> Efficiencies:
        return eff.compute_scaled(share / default, memory=memory)

    default_net = float(efficiency_defaults()["inter_node_link"]["value"])

    def networked(eff: Efficiencies) -> Efficiencies:
        return replace(
            eff, inter_bandwidth_bytes_per_s=eff.inter_bandwidth_bytes_per_s * network / default_net
        )

    eff = replace(networked(scaled(base, _sustained_for(sustained, run.dtype))), step_overhead_s=overhead)
    if base.high is not None:
        wide = "bf16" if sc.hardware.peak_flops_per_s.bf16 else "fp16"
        eff = replace(eff, high=networked(scaled(base.high, _sustained_for(sustained, wide))))
    c, ledgers = _prepared(run.id)
    return step_time(sc, eff, c, ledgers).total


def _grid_loss(rs: Sequence[Run], sustained: dict[str, Any], memory: Any, overhead: Any, network: Any) -> Any:
    """Mean |log(predicted/measured)| over `rs`, per candidate (symmetric in over- and under-prediction,
    robust to one outlier)."""
    import numpy as np

    total = 0.0
    for r in rs:
        total = total + np.abs(np.log(_predict_grid(r, sustained, memory, overhead, network) / r.measured_s))
    return total / len(rs)


GRID = 33  # candidates per parameter per refinement


def fit_generation(generation: str, rs: Sequence[Run]) -> FittedCalibration | None:
    """The generation's calibration fitted on `rs` (its runs) by coordinate descent over candidate grids
    evaluated at once: the sustained GEMM share of each precision the runs used and, with 12 runs or more,
    the non-GEMM HBM efficiency and the fixed cost per step (fewer runs keep their documented defaults)."""
    import numpy as np

    from estimator.roofline import efficiency_defaults

    if not rs:
        return None
    dtypes = sorted({r.dtype for r in rs})
    start = float(efficiency_defaults()["training_gemm_fraction"]["value"])
    values: dict[str, float] = {f"sustained.{d}": start for d in dtypes}
    values["memory"] = float(efficiency_defaults()["memory_bandwidth"]["value"])
    values["overhead"] = 0.0
    values["network"] = float(efficiency_defaults()["inter_node_link"]["value"])
    extra = ["memory", "overhead", "network"]
    names = [f"sustained.{d}" for d in dtypes] + (extra if len(rs) >= 12 else [])

    def loss(name: str, candidates: Any) -> Any:
        trial: dict[str, Any] = {**values, name: candidates}
        sustained = {k.split(".")[1]: v for k, v in trial.items() if k.startswith("sustained.")}
        return _grid_loss(rs, sustained, trial["memory"], trial["overhead"], trial["network"])

    for _ in range(2):
        for name in names:
            lo, hi = BOUNDS[name.split(".")[0]]
            for _level in range(3):  # a grid, then finer grids around its best point
                grid = np.linspace(lo, hi, GRID)
                best = float(grid[int(np.argmin(loss(name, grid)))])
                step = (hi - lo) / (GRID - 1)
                lo, hi = max(lo, best - 2 * step), min(hi, best + 2 * step)
            values[name] = round(best, 4)
    return FittedCalibration(
        generation=generation,
        sustained={d: values[f"sustained.{d}"] for d in dtypes},
        memory_bandwidth_efficiency=values["memory"],
        step_overhead_s=values["overhead"],
        network_efficiency=values["network"],
        runs=tuple(r.id for r in rs),
    )


MIN_OWN_RUNS = 4  # a profile with this many runs of its own gets its own calibration


def fit(rs: Iterable[Run]) -> dict[str, FittedCalibration]:
    """Calibrations fitted on `rs`: one per generation (on all of its runs), and one per profile with
    MIN_OWN_RUNS runs of its own (a part's power limit or memory may set it apart from its generation)."""
    rs = list(rs)
    groups: dict[str, list[Run]] = {}
    for r in rs:
        groups.setdefault(r.generation, []).append(r)
    by_profile: dict[str, list[Run]] = {}
    for r in rs:
        by_profile.setdefault(r.hardware, []).append(r)
    for name, members in by_profile.items():
        if len(members) >= MIN_OWN_RUNS and len(members) < len(groups[members[0].generation]):
            groups[name] = members
    out = {}
    for key, members in sorted(groups.items()):
        fitted = fit_generation(members[0].generation, members)
        if fitted is not None:
            out[key] = fitted
    return out


def calibration_of(run: Run, fits: dict[str, FittedCalibration]) -> FittedCalibration | bool:
    """The calibration a run's profile uses among `fits`: its own, else its generation's, else none."""
    return fits.get(run.hardware) or fits.get(run.generation) or False


@dataclass(frozen=True)
class ValidationRow:
    run: str
    source: str
    family: str
    hardware: str
    generation: str
    gpus: int
    layout: str
    measured_s: float
    predicted_s: float  # the shipped calibration (in sample for the runs it was fitted on)
    cv_predicted_s: float  # the calibration fitted without this run's family

    @property
    def error(self) -> float:
        """(predicted − measured) / measured."""
        return (self.predicted_s - self.measured_s) / self.measured_s

    @property
    def cv_error(self) -> float:
        return (self.cv_predicted_s - self.measured_s) / self.measured_s

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error": self.error, "cv_error": self.cv_error}


@functools.cache
def cross_validated(which: SetName = "all") -> dict[str, float]:
    """Leave-one-source-out predictions: for each family, the calibration refitted on every other family's
    runs (all sets: a generation borrows nothing from another), then that family's runs predicted."""
    import sys

    pool = runs("all")
    full = full_fit()
    out: dict[str, float] = {}
    families = sorted({r.family for r in runs(which)})
    for i, family in enumerate(families):
        sys.stderr.write(f"\rcross-validating: {i + 1}/{len(families)} {family:<40}")
        held = [r for r in pool if r.family == family]
        touched = {r.generation for r in held}
        rest = [r for r in pool if r.family != family and r.generation in touched]
        refit = fit(rest)
        fitted = {k: v for k, v in full.items() if v.generation not in touched}
        fitted.update(refit)  # generations without a run left keep none: the documented defaults
        for r in held:
            out[r.id] = predict_s(r, calibration_of(r, fitted))
    sys.stderr.write("\r" + " " * 70 + "\r")
    return out


@functools.cache
def full_fit() -> dict[str, FittedCalibration]:
    """The calibration of every generation fitted on all of its runs."""
    return fit(runs("all"))


def validate(which: SetName = "all", *, cv: bool = True) -> list[ValidationRow]:
    """Predicted vs measured seconds per step for every run of the set: with the shipped calibration and,
    with `cv`, leave-one-source-out."""
    held = cross_validated(which) if cv else {}
    return [
        ValidationRow(
            r.id,
            r.group,
            r.family,
            r.hardware,
            r.generation,
            r.scenario.gpus,
            r.layout,
            r.measured_s,
            predict_s(r),
            held.get(r.id, math.nan),
        )
        for r in runs(which)
    ]


def summary(rows: list[ValidationRow], *, cv: bool = False) -> dict[str, float]:
    errors = [r.cv_error if cv else r.error for r in rows]
    errors = [e for e in errors if not math.isnan(e)]
    absolute = [abs(e) for e in errors]
    return {
        "runs": float(len(errors)),
        "median_abs_error": float(statistics.median(absolute)),
        "mean_abs_error": statistics.fmean(absolute),
        "max_abs_error": max(absolute),
        "mean_error": statistics.fmean(errors),
    }


def summaries(rows: list[ValidationRow]) -> dict[str, dict[str, dict[str, float]]]:
    """In-sample and cross-validated summaries, over all rows and per generation."""
    groups: dict[str, list[ValidationRow]] = {"all": rows}
    for r in rows:
        groups.setdefault(r.generation, []).append(r)
    return {
        name: {"in_sample": summary(members), "cross_validated": summary(members, cv=True)}
        for name, members in groups.items()
    }


# ---------------------------------------------------------------------------------------- stored result


def fitted_blocks() -> dict[str, FittedCalibration]:
    """Per profile, the calibration `--fit --write` stores: its generation's fit on every run of that
    generation, the generation's leave-one-source-out residuals (measured/predicted − 1) and best MFU per
    precision, and how many runs ran on the profile itself."""
    import datetime

    from estimator.profiles import hardware_names, load_hardware

    pool = runs("all")
    fits = full_fit()
    held = cross_validated("all")
    out: dict[str, FittedCalibration] = {}
    for name in hardware_names():
        hw = load_hardware(name)
        gen = hw.generation
        if gen not in fits:
            continue
        members = [r for r in pool if r.generation == gen]
        residuals = sorted(r.measured_s / held[r.id] - 1 for r in members)
        mfu: dict[str, float] = {}
        for r in members:
            mfu[r.dtype] = max(mfu.get(r.dtype, 0.0), round(run_mfu(r), 4))
        own = fits.get(name)
        out[name] = (own or fits[gen]).model_copy(
            update=dict(
                own_runs=sum(r.hardware == name for r in members),
                residuals={
                    "low": round(_quantile(residuals, 0.1), 4),
                    "high": round(_quantile(residuals, 0.9), 4),
                    "min": round(residuals[0], 4),
                    "max": round(residuals[-1], 4),
                    "median_abs": round(statistics.median(abs(x) for x in residuals), 4),
                    "runs": float(len(residuals)),
                },
                best_mfu=mfu,
                date=datetime.date.today().isoformat(),
                command=FIT_COMMAND,
            )
        )
    return out


def _quantile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile of sorted values."""
    pos = q * (len(sorted_values) - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _block_yaml(block: FittedCalibration) -> str:
    import yaml

    data = block.model_dump(mode="json")
    data["runs"] = list(data["runs"])
    text = yaml.safe_dump({"fitted": data}, sort_keys=False, width=100, default_flow_style=None)
    return "".join("  " + line + "\n" for line in text.splitlines())


_FITTED_HEADER = (
    "  # fitted on published runs of this generation by the command below (estimator/validation.py); "
    "rewritten by it\n"
)


def write_fitted(blocks: dict[str, FittedCalibration], directory: Path = PROFILES_DIR) -> list[Path]:
    """Write each profile's `calibration.fitted` block (replacing the previous one, which is always last)."""
    written = []
    for name, block in blocks.items():
        from estimator.serving_validation import _HEADER as SERVING_HEADER

        path = directory / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        serving = SERVING_HEADER + text.split(SERVING_HEADER)[1] if SERVING_HEADER in text else ""
        text = text.split(SERVING_HEADER)[0].split(_FITTED_HEADER)[0].rstrip("\n") + "\n"
        if not re.search(r"^calibration:", text, flags=re.M):
            text += "calibration:\n"
        path.write_text(text + _FITTED_HEADER + _block_yaml(block) + serving, encoding="utf-8")
        written.append(path)
    from estimator.profiles import clear_cache

    clear_cache()
    for cached in (runs, _by_id, _prepared, cross_validated, full_fit, _run_files):
        cached.cache_clear()
    return written


SUMMARY_FILE = DATA / "validation_summary.yaml"


def summary_record() -> dict[str, Any]:
    """What reports and the dashboard quote, computed afresh: per set and per generation, the in-sample
    and leave-one-source-out median and max |error|, and every run's row."""
    rows = validate("all")
    a100 = {r.id for r in runs("a100")}
    sets = {
        "a100": [r for r in rows if r.run in a100],
        "modern": [r for r in rows if r.run not in a100],
        "all": rows,
    }
    return {
        "sets": {
            name: {"in_sample": summary(members), "cross_validated": summary(members, cv=True)}
            for name, members in sets.items()
        },
        "by_generation": {k: g for k, g in summaries(rows).items() if k != "all"},
        "rows": rounded_rows(rows),
    }


def write_summary(path: Path = SUMMARY_FILE) -> dict[str, Any]:
    record = write_dated_record(
        path,
        summary_record(),
        command=FIT_COMMAND,
        note="written by the command above; tests hold it equal to what the validation computes",
    )
    stored_summary.cache_clear()
    return record


@functools.cache
def stored_summary() -> dict[str, Any]:
    """The validation summary `estimator validate --fit --write` stored (reports never rerun the fit)."""
    data: dict[str, Any] = read_yaml(SUMMARY_FILE)
    return data
