"""How high an MFU the planner may believe: no plan above what the validation supports.

Calculon's search recommends A100 plans at 75 % MFU, far above any published run, because it exploits
the model's optimism. Here a plan's predicted MFU may not exceed the best MFU measured in the validation
runs (Korthikanti et al. 2022: 56.3 % for 1T on 512 A100s) times the upper end of the validation band;
on other hardware that ceiling scales with the profile's GEMM efficiency relative to the A100's, and
gets the extrapolation margin.
"""

from __future__ import annotations

from estimator.roofline import resolve_efficiencies
from estimator.specs.hardware import HardwareSpec


def _validated() -> tuple[float, float, float, frozenset[str]]:
    """(best measured MFU, upper residual, the GEMM efficiency the best run ran at, covered hardware), as
    stored by `estimator validate --write`."""
    from estimator.uncertainty import residual_band
    from estimator.validation import stored_band

    band = stored_band()
    low, high, covered = residual_band()
    return float(band["best_mfu"]), high, float(band["best_mfu_gemm_max"]), covered


def mfu_cap(hw: HardwareSpec) -> float:
    """The highest MFU a plan on `hw` may claim (bf16 efficiencies; see the module docstring)."""
    from estimator.uncertainty import EXTRAPOLATION_MARGIN

    best, high, ref_gemm, covered = _validated()
    if hw.name in covered:
        return best * (1 + high)
    dtype = "bf16" if hw.peak_flops_per_s.bf16 else "fp16"
    ratio = resolve_efficiencies(hw, dtype).gemm_max / ref_gemm  # type: ignore[arg-type]
    return best * ratio * (1 + high + EXTRAPOLATION_MARGIN)
