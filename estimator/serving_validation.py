"""The serving model against published serving measurements, and the serving calibration fitted on them.

estimator/data/serving_runs.yaml (a copy of shared/calibration/serving_runs.yaml) holds TensorRT-LLM 0.9.0's
performance tables: static batching (gptSessionBenchmark), throughput = batch × output length / the whole
batch's latency, and first-token latency measured with one output token. Each row becomes a serving
scenario; a static batch is one batched prefill of every prompt, then one decode step per output token at
the growing context. Three physical numbers per hardware generation are fitted (prefill/decode GEMM share
sustained, decode's HBM streaming share, a per-step cost); accuracy is quoted leave-one-model-out.
"""

from __future__ import annotations

import functools
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from estimator.specs.hardware import ServingCalibration
from estimator.specs.inference import InferenceScenario
from estimator.textio import read_yaml, rounded_rows, write_dated_record

RUNS_FILE = Path(__file__).resolve().parent / "data" / "serving_runs.yaml"
FIT_COMMAND = "estimator validate --serving --write"
_HARDWARE = {"H100-SXM-80GB": "h100-sxm-80gb", "H200-SXM-141GB": "h200-sxm-141gb"}
BOUNDS = {
    "sustained": (0.3, 1.15),
    "memory": (0.3, 1.0),
    "overhead": (0.0, 0.01),
    "prefill": (0.0, 0.02),
    "moe": (0.1, 1.0),
    "kv": (0.3, 1.0),
}
QUADRATURE = 4  # decode steps averaged over the output at this many context midpoints (time is ~linear)


@dataclass(frozen=True)
class ServingRun:
    id: str
    model: str  # the leave-one-out unit
    metric: str  # "throughput" (output tokens/s per GPU) or "ttft" (seconds)
    scenario: InferenceScenario
    batch: int
    input_tokens: int
    output_tokens: int
    measured: float

    @property
    def generation(self) -> str:
        return self.scenario.hardware.generation or self.scenario.hardware.name


def _hardware(text: str) -> str:
    return next((v for k, v in _HARDWARE.items() if text.startswith(k)), "a100-sxm-80gb")


@functools.cache
def serving_runs() -> tuple[ServingRun, ...]:
    out = []
    for m in read_yaml(RUNS_FILE)["measurements"]:
        hw, prec, w = m["hardware"], m["precision"], m["workload"]
        compute = "fp8" if prec["weights"] == "fp8" else "fp16"
        sc = InferenceScenario.model_validate(
            {
                "name": m["id"],
                "model": m["model"]["preset"],
                "hardware": _hardware(hw["gpu"]),
                "gpus": hw["tp"] * hw["pp"],
                "parallelism": {"tp": hw["tp"], "pp": hw["pp"]},
                "precision": compute,
                "quantisation": {"weights": prec["weights"], "kv_cache": prec["kv_cache"]},
                "inference": {
                    "batch": w["batch"],
                    "prompt_tokens": w["input_tokens"],
                    "output_tokens": w["output_tokens"],
                },
            }
        )
        metric = "ttft" if "ttft_ms" in m["measured"] else "throughput"
        value = (
            m["measured"]["ttft_ms"] / 1000
            if metric == "ttft"
            else m["measured"]["output_tokens_per_s_per_gpu"]
        )
        out.append(
            ServingRun(
                m["id"],
                m["model"]["name"],
                metric,
                sc,
                w["batch"],
                w["input_tokens"],
                w["output_tokens"],
                value,
            )
        )
    return tuple(out)


def predict(run: ServingRun, eff: Any = None) -> Any:
    """Predicted throughput (output tokens/s per GPU) or TTFT (s) of a static-batch benchmark row under the
    efficiencies `eff` (default: the profile's serving calibration; array-safe for the fit)."""
    from estimator.inference import decode_step, efficiencies, prefill_time_s

    sc = run.scenario
    eff = eff if eff is not None else efficiencies(sc)
    prefill = prefill_time_s(sc, prompt_tokens=run.input_tokens, batch=run.batch, eff=eff)
    if run.metric == "ttft":
        return prefill
    decode: Any = 0.0
    for i in range(QUADRATURE):
        context = run.input_tokens + (i + 0.5) * run.output_tokens / QUADRATURE
        decode = decode + decode_step(sc, sequences=run.batch, context=context, eff=eff).total
    total = prefill + (run.output_tokens - 1) * decode / QUADRATURE
    return run.batch * run.output_tokens / (total * sc.gpus)


def _error(run: ServingRun, predicted: Any) -> Any:
    return predicted / run.measured - 1


def physical_bound(run: ServingRun) -> float:
    """The best the stated configuration can do by this model: throughput (or TTFT) at the fastest
    calibration the fit may choose — every GEMM share at its upper bound, the full HBM bandwidth for weights
    and the KV cache, MoE experts at dense efficiency, no fixed costs. A measurement beyond it cannot be
    explained by any calibration: its stated configuration (model, precision, GPUs, batch, lengths) is not
    the one that ran, or the figure is misprinted."""
    from estimator.inference import efficiencies, scale_serving
    from estimator.roofline import sustained_fraction

    base = efficiencies(run.scenario, None)
    default = sustained_fraction(None, run.scenario.precision)[0]
    best = scale_serving(
        base,
        BOUNDS["sustained"][1] / default,
        BOUNDS["memory"][1],
        0.0,
        BOUNDS["moe"][1],
        0.0,
        BOUNDS["kv"][1],
    )
    return float(predict(run, best))


BOUND_TOLERANCE = 0.02  # beyond the bound by more than this: not physically consistent


def beyond_bound(run: ServingRun) -> float | None:
    """How far a measurement lies beyond `physical_bound` (measured ÷ bound for throughput, bound ÷ measured
    for TTFT, so > 1 either way), or None when it is within it."""
    bound = physical_bound(run)
    ratio = run.measured / bound if run.metric == "throughput" else bound / run.measured
    return ratio if ratio > 1 + BOUND_TOLERANCE else None


@functools.cache
def consistent_runs() -> tuple[ServingRun, ...]:
    """The measurements the fit, the cross-validation and the headline use: those within the physical
    bound of their stated configuration (the others are listed apart, with how far beyond they lie)."""
    return tuple(r for r in serving_runs() if beyond_bound(r) is None)


def fit_serving(generation: str, rs: list[ServingRun], *, tied: bool = False) -> ServingCalibration | None:
    """The generation's serving calibration fitted on `rs` by coordinate descent over candidate grids
    (mean |log(predicted/measured)| over throughput and TTFT rows alike). The HBM share of the KV cache
    is fitted apart from the weights' where the rows can tell the two apart; where either runs to a bound
    of its range (the rows cannot separate them: on the A100 rows, weights 0.45 and KV 1.0, which put
    batch-1 decode at 2.3× its HBM floor where gpt-fast measures 1.46×), one share is fitted for both."""
    import numpy as np

    from estimator.inference import efficiencies, scale_serving
    from estimator.roofline import efficiency_defaults, sustained_fraction

    if not rs:
        return None
    values = {
        "sustained": float(efficiency_defaults()["training_gemm_fraction"]["value"]),
        "memory": float(efficiency_defaults()["memory_bandwidth"]["value"]),
        "overhead": 0.0,
        "prefill": 0.0,
        "moe": 1.0,
        "kv": float(efficiency_defaults()["memory_bandwidth"]["value"]),
    }
    bases = [
        (r, efficiencies(r.scenario, None), sustained_fraction(None, r.scenario.precision)[0]) for r in rs
    ]

    def loss(name: str, grid: Any) -> Any:
        trial = {**values, name: grid}
        total: Any = 0.0
        for r, base, default in bases:
            eff = scale_serving(
                base,
                trial["sustained"] / default,
                trial["memory"],
                trial["overhead"],
                trial["moe"],
                trial["prefill"],
                trial["memory"] if tied else trial["kv"],
            )
            total = total + np.abs(np.log(predict(r, eff) / r.measured))
        return total / len(bases)

    names = ["sustained", "memory", "overhead", "prefill"] if len(rs) >= 8 else ["sustained", "memory"]
    if len(rs) >= 8 and not tied:
        names.insert(2, "kv")
    if any(r.scenario.model.is_moe for r in rs):
        names.insert(0, "moe")  # first: MoE rows would otherwise drag every dense share down
    for _ in range(4):
        for name in names:
            lo, hi = BOUNDS[name]
            for _level in range(3):
                grid = np.linspace(lo, hi, 33)
                best = float(grid[int(np.argmin(loss(name, grid)))])
                step = (hi - lo) / 32
                lo, hi = max(lo, best - 2 * step), min(hi, best + 2 * step)
            values[name] = round(best, 5)
    if "kv" in names and any(_at_bound(values[k], BOUNDS[k]) for k in ("memory", "kv")):
        return fit_serving(generation, rs, tied=True)
    return ServingCalibration(
        generation=generation,
        sustained=values["sustained"],
        memory_bandwidth_efficiency=values["memory"],
        step_overhead_s=values["overhead"],
        moe_gemm_share=values["moe"],
        prefill_overhead_s=values["prefill"],
        kv_bandwidth_efficiency=values["memory"] if tied else values["kv"],
        runs=tuple(r.id for r in rs),
    )


def _at_bound(value: float, bounds: tuple[float, float]) -> bool:
    """Within one coarse grid step of either end of its range."""
    step = (bounds[1] - bounds[0]) / 32
    return value <= bounds[0] + step or value >= bounds[1] - step


def fit_all(rs: list[ServingRun]) -> dict[str, ServingCalibration]:
    groups: dict[str, list[ServingRun]] = {}
    for r in rs:
        groups.setdefault(r.generation, []).append(r)
    return {g: f for g, members in sorted(groups.items()) if (f := fit_serving(g, members)) is not None}


@functools.cache
def full_fit() -> dict[str, ServingCalibration]:
    return fit_all(list(consistent_runs()))


@functools.cache
def cross_validated() -> dict[str, float]:
    """Leave-one-model-out: each model's rows predicted by the calibration fitted on the other models."""
    from estimator.inference import efficiencies

    pool = list(consistent_runs())
    out = {}
    for model in sorted({r.model for r in pool}):
        fits = fit_all([r for r in pool if r.model != model])
        for r in pool:
            if r.model == model:
                cal = fits.get(r.generation)
                out[r.id] = float(predict(r, efficiencies(r.scenario, cal)))
    return out


@dataclass(frozen=True)
class ServingRow:
    run: str
    model: str
    metric: str
    hardware: str
    generation: str
    measured: float
    predicted: float
    cv_predicted: float  # NaN for a measurement beyond its physical bound (not in the fit)
    beyond_bound: float | None = None  # measured ÷ physical bound (> 1) when the figure cannot be reached

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1

    @property
    def cv_error(self) -> float:
        return self.cv_predicted / self.measured - 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "error": self.error, "cv_error": self.cv_error}


def validate_serving(*, cv: bool = True) -> list[ServingRow]:
    held = cross_validated() if cv else {}
    return [
        ServingRow(
            r.id,
            r.model,
            r.metric,
            r.scenario.hardware.name,
            r.generation,
            r.measured,
            float(predict(r)),
            held.get(r.id, math.nan),
            beyond_bound(r),
        )
        for r in serving_runs()
    ]


def serving_summaries(rows: list[ServingRow]) -> dict[str, dict[str, dict[str, float]]]:
    """Per metric (and per metric and generation): in-sample and leave-one-model-out |error| over the
    measurements within their physical bound."""
    groups: dict[str, list[ServingRow]] = {}
    for r in rows:
        if r.beyond_bound is not None:
            continue
        groups.setdefault(r.metric, []).append(r)
        groups.setdefault(f"{r.metric} {r.generation}", []).append(r)

    def stats(values: list[float]) -> dict[str, float]:
        absolute = [abs(v) for v in values if not math.isnan(v)]
        return {
            "runs": float(len(absolute)),
            "median_abs_error": float(statistics.median(absolute)) if absolute else math.nan,
            "max_abs_error": max(absolute) if absolute else math.nan,
        }

    return {
        name: {
            "in_sample": stats([r.error for r in members]),
            "cross_validated": stats([r.cv_error for r in members]),
        }
        for name, members in groups.items()
    }


def serving_blocks() -> dict[str, ServingCalibration]:
    """Per profile of a fitted generation: the generation's serving fit with its leave-one-model-out
    residuals (measured/predicted − 1 on throughput; TTFT residuals inverted to the same sense)."""
    import datetime

    from estimator.profiles import hardware_names, load_hardware

    fits = full_fit()
    held = cross_validated()
    out = {}
    for name in hardware_names():
        gen = load_hardware(name).generation
        if gen not in fits:
            continue
        residuals = sorted(
            (r.measured / held[r.id] - 1) if r.metric == "ttft" else (held[r.id] / r.measured - 1)
            for r in consistent_runs()
            if r.generation == gen
        )  # > 0: the model is optimistic (measured slower than predicted)
        out[name] = fits[gen].model_copy(
            update=dict(
                residuals={
                    "min": round(residuals[0], 4),
                    "max": round(residuals[-1], 4),
                    "median_abs": round(statistics.median(abs(x) for x in residuals), 4),
                    "runs": float(len(residuals)),
                },
                date=datetime.date.today().isoformat(),
                command=FIT_COMMAND,
            )
        )
    return out


_HEADER = (
    "  # serving: fitted on published serving measurements of this generation by the command below; "
    "rewritten by it\n"
)


def write_serving(blocks: dict[str, ServingCalibration]) -> list[Path]:
    """Write each profile's `calibration.serving` block; it sits last in the file (after `fitted`)."""
    import yaml

    from estimator.profiles import clear_cache, profiles_dir

    written = []
    for name, block in blocks.items():
        path = profiles_dir() / f"{name}.yaml"
        text = path.read_text(encoding="utf-8").split(_HEADER)[0].rstrip("\n") + "\n"
        if "\ncalibration:" not in "\n" + text:
            text += "calibration:\n"
        data = block.model_dump(mode="json")
        data["runs"] = list(data["runs"])
        body = yaml.safe_dump({"serving": data}, sort_keys=False, width=100, default_flow_style=None)
        path.write_text(
            text + _HEADER + "".join("  " + line + "\n" for line in body.splitlines()), encoding="utf-8"
        )
        written.append(path)
    clear_cache()
    for cached in (serving_runs, consistent_runs, full_fit, cross_validated):
        cached.cache_clear()
    return written


SUMMARY_FILE = Path(__file__).resolve().parent / "data" / "serving_validation_summary.yaml"


def serving_summary_record() -> dict[str, Any]:
    rows = validate_serving()
    return {
        "by_metric": serving_summaries(rows),
        "rows": rounded_rows(rows),
    }


def write_serving_summary(path: Path = SUMMARY_FILE) -> dict[str, Any]:
    return write_dated_record(
        path,
        serving_summary_record(),
        command=FIT_COMMAND,
        note="leave-one-model-out: each model's rows predicted by the calibration fitted on the others",
    )
