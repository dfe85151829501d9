"""What-if sweeps of one training scenario: GPU count, accelerator, and one-at-a-time sensitivities.
Each point is a full `estimate_training` call; nothing is extrapolated."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from estimator.errors import InputError
from estimator.profiles import builtin_profiles
from estimator.roofline import resolve_efficiencies
from estimator.scenario_io import scenario_from_dict
from estimator.specs.scenario import Scenario
from estimator.training import estimate_training


def _with(sc: Scenario, **changes: Any) -> Scenario:
    """The scenario with top-level or nested fields changed, re-validated (so impossible layouts raise)."""
    data = sc.model_dump(mode="json")
    for key, value in changes.items():
        if isinstance(value, dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return scenario_from_dict(data)


def _row(sc: Scenario, **extra: Any) -> dict[str, Any]:
    e = estimate_training(sc)
    return {
        **extra,
        "gpus": sc.gpus,
        "days": e.train_time_s / 86400,
        "cost_usd": e.cost_usd,
        "mfu": e.mfu,
        "energy_kwh": e.energy_kwh,
        "fits_in_memory": e.fits_in_memory,
        "step_time_s": e.step_time_s,
    }


def gpu_count_sweep(sc: Scenario, factors: tuple[float, ...] = (0.25, 0.5, 1, 2, 4, 8)) -> pd.DataFrame:
    """Days and dollars at other GPU counts (data parallelism scaled, layout otherwise kept); counts whose
    layout is impossible (global batch not divisible) are skipped."""
    rows = []
    for f in factors:
        n = int(sc.gpus * f)
        if n < sc.parallelism.model_parallel or n % sc.parallelism.model_parallel:
            continue
        try:
            rows.append(_row(_with(sc, gpus=n)))
        except InputError:
            continue
    return pd.DataFrame(rows)


def hardware_comparison(sc: Scenario, names: list[str] | None = None) -> pd.DataFrame:
    """The same job on each accelerator (same layout where it is possible there; the scenario's price on its
    own hardware, the profile's dated price on the others)."""
    rows = []
    for name in names or sorted(builtin_profiles()):
        try:
            price = (
                sc.pricing.usd_per_gpu_hour if name == sc.hardware.name else None
            )  # the scenario's price is for its hardware
            other = _with(sc, hardware=name, pricing={"usd_per_gpu_hour": price})
        except InputError as exc:
            rows.append({"hardware": name, "error": str(exc).split(";")[0]})
            continue
        rows.append(_row(other, hardware=name, error=""))
    return pd.DataFrame(rows)


def sensitivity(sc: Scenario) -> pd.DataFrame:
    """Days and dollars when one input moves: kernel efficiency ±20 %, price ±25 %, GPUs ×½ and ×2,
    global batch ×½ and ×2 (points whose layout is impossible are left out)."""
    base = estimate_training(sc)
    rows = [
        {
            "parameter": "baseline",
            "setting": "as given",
            "days": base.train_time_s / 86400,
            "cost_usd": base.cost_usd,
        }
    ]
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    for f in (0.8, 1.2):
        e = estimate_training(
            sc,
            dataclasses.replace(
                eff, gemm_max=min(eff.gemm_max * f, 1.0), attention_max=min(eff.attention_max * f, 1.0)
            ),
        )
        rows.append(
            {
                "parameter": "kernel efficiency",
                "setting": f"×{f:g}",
                "days": e.train_time_s / 86400,
                "cost_usd": e.cost_usd,
            }
        )
    if base.usd_per_gpu_hour:
        for f in (0.75, 1.25):
            rows.append(
                {
                    "parameter": "price",
                    "setting": f"×{f:g}",
                    "days": base.train_time_s / 86400,
                    "cost_usd": (base.cost_usd or 0) * f,
                }
            )
    for f, label in ((0.5, "×½"), (2, "×2")):
        for key, change in (
            ("GPU count", {"gpus": int(sc.gpus * f)}),
            ("global batch", {"training": {"global_batch": int(sc.training.global_batch * f)}}),
        ):
            try:
                other = _with(sc, **change)
            except InputError:
                continue
            e = estimate_training(other)
            rows.append(
                {"parameter": key, "setting": label, "days": e.train_time_s / 86400, "cost_usd": e.cost_usd}
            )
    return pd.DataFrame(rows)
