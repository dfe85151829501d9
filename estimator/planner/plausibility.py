"""How high an MFU the planner may believe: no plan above what published runs on that hardware reached.

Calculon's search recommends A100 plans at 75 % MFU, far above any published run, because it exploits the
model's optimism. Here a plan's predicted MFU may not exceed the best MFU measured on its generation in
its precision (`calibration.fitted.best_mfu`, written by `estimator validate --fit --write`; e.g. 56.3 % for
Korthikanti et al.'s 1T on A100). A precision without runs takes the generation's best run in another
precision; a generation without runs takes the A100 ceiling scaled by the profile's best-shape GEMM
efficiency relative to the A100's.
"""

from __future__ import annotations

from estimator.roofline import resolve_efficiencies
from estimator.specs.hardware import ComputeDtype, HardwareSpec


def mfu_cap(hw: HardwareSpec, dtype: ComputeDtype = "bf16") -> float:
    """The highest MFU a plan on `hw` in `dtype` may claim (see the module docstring)."""
    fitted = hw.calibration.fitted if hw.calibration else None
    if fitted is not None and fitted.best_mfu:
        if dtype in fitted.best_mfu:
            return fitted.best_mfu[dtype]
        twin = {"bf16": "fp16", "fp16": "bf16"}.get(dtype)
        if twin in fitted.best_mfu:
            return fitted.best_mfu[twin]
        return max(fitted.best_mfu.values())
    from estimator.profiles import load_hardware

    a100 = load_hardware("a100-sxm-80gb")
    reference = a100.calibration.fitted if a100.calibration else None
    best = max(reference.best_mfu.values()) if reference is not None and reference.best_mfu else 0.5
    wide: ComputeDtype = "bf16" if hw.peak_flops_per_s.bf16 else "fp16"
    ratio = resolve_efficiencies(hw, wide).gemm_max / resolve_efficiencies(a100, "fp16").gemm_max
    return float(best * ratio)
