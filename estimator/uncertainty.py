"""A low–high range on step time, carried to days, GPU-hours and dollars, that widens where the validation
does not reach.

The base range is the spread (10th to 90th percentile) of the leave-one-source-out residuals, measured /
predicted − 1, of the runs of the hardware's generation (`calibration.fitted.residuals`, written by
`estimator validate --fit --write`). It widens, by a stated margin per reason, outside the validated domain:
hardware without runs of its own or of its generation, a precision or stack no run used, models under 1 B
parameters or sequences under 1,024 tokens (fixed costs dominate, none of the runs is that small), context
parallelism at sequences under 16 K (no run used it there), mixture-of-experts models (no MoE run is in
the validation). The note says which applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from estimator.num import Num, is_array, maximum

if TYPE_CHECKING:
    from estimator.specs.scenario import Scenario

EXTRAPOLATION_MARGIN = 0.10  # a generation with no published run: the A100 band, this much wider each side
MIN_RUNS = 5  # fewer cross-validated runs than this make a percentile band meaningless
MARGINS = {
    "few_runs": 0.05,
    "own_runs": 0.05,
    "precision": 0.05,
    "stack": 0.05,
    "small_model": 0.10,
    "short_sequence": 0.05,
    "cp_short": 0.05,
    "moe": 0.10,
}
REASONS = {
    "few_runs": f"fewer than {MIN_RUNS} published runs of this generation",
    "own_runs": "no published run on this profile (its generation's calibration)",
    "precision": "no published run in this precision on this generation",
    "stack": "no published run on this software stack",
    "small_model": "a model under 1 B parameters (fixed costs dominate; no run is this small)",
    "short_sequence": "sequences under 1,024 tokens (no run is this short)",
    "cp_short": "context parallelism at sequences under 16 K tokens (no run used it there)",
    "moe": "a mixture-of-experts model (no MoE run is in the validation)",
}
VALIDATED_STACKS = frozenset({"megatron-lm-2021", "megatron-core", "nemo", "torchtitan"})


@dataclass(frozen=True)
class Domain:
    """Where a scenario sits relative to the validation: the residual band it inherits and the reasons it
    is outside the validated domain (each widens the band)."""

    low: float
    high: float
    source: str
    reasons: tuple[str, ...]

    @property
    def validated(self) -> bool:
        return not self.reasons


def domain(sc: Scenario) -> Domain:
    """The scenario's base band and the scenario-level reasons (layout-dependent ones: `step_time_range`)."""
    from estimator.params import count_params

    hw = sc.hardware
    fitted = hw.calibration.fitted if hw.calibration else None
    reasons: list[str] = []
    if fitted is None or not fitted.residuals:
        low, high, source = _fallback_band()
        source = f"no published run of this generation: {source}, widened by ±{EXTRAPOLATION_MARGIN:.0%}"
        low, high = low - EXTRAPOLATION_MARGIN, high + EXTRAPOLATION_MARGIN
    else:
        # the band always contains the estimate itself
        low, high = min(fitted.residuals["low"], 0.0), max(fitted.residuals["high"], 0.0)
        if fitted.residuals.get("runs", 0) < MIN_RUNS:
            reasons.append("few_runs")
        source = (
            f"leave-one-source-out residuals of {int(fitted.residuals.get('runs', 0))} {fitted.generation} "
            f"runs, 10th–90th percentile"
        )
        if not fitted.own_runs:
            reasons.append("own_runs")
        if sc.precision_policy.compute_dtype not in fitted.sustained:
            reasons.append("precision")
    if sc.stack not in VALIDATED_STACKS:
        reasons.append("stack")
    if count_params(sc.model).total < 1e9:
        reasons.append("small_model")
    if sc.training.seq_len < 1024:
        reasons.append("short_sequence")
    if sc.model.is_moe:
        reasons.append("moe")
    return Domain(low, high, source, tuple(reasons))


def _fallback_band() -> tuple[float, float, str]:
    """The widest-covered generation's band (A100's when nothing else is fitted)."""
    from estimator.profiles import load_hardware

    try:
        fitted = load_hardware("a100-sxm-80gb").calibration.fitted  # type: ignore[union-attr]
    except Exception:  # noqa: BLE001 - a custom profiles directory may not have it
        fitted = None
    if fitted is not None and fitted.residuals:
        return fitted.residuals["low"], fitted.residuals["high"], "the A100 runs' residuals"
    return -0.10, 0.10, "±10 %"


def step_time_range(step_s: Num, sc: Scenario, cp: Num = 1) -> tuple[Num, Num, str]:
    """(low, high) step time and a sentence saying where the band comes from and why it is as wide as it
    is (array-safe in `step_s` and the layout's `cp`)."""
    d = domain(sc)
    margin = sum(MARGINS[r] for r in d.reasons)
    cp_short = (cp > 1) * (sc.training.seq_len < 16384) * MARGINS["cp_short"]
    reasons = [REASONS[r] for r in d.reasons]
    uses_cp = bool((cp > 1).any()) if is_array(cp) else cp > 1  # type: ignore[union-attr]
    if uses_cp and sc.training.seq_len < 16384:
        reasons.append(REASONS["cp_short"])
    low = maximum(1 + d.low - margin - cp_short, 0.5)
    high = 1 + d.high + margin + cp_short
    note = f"{d.source}: measured/predicted − 1 in [{d.low:+.1%}, {d.high:+.1%}]"
    if reasons:
        note += "; wider because of " + "; ".join(reasons)
    return step_s * low, step_s * high, note
