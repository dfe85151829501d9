"""Frozen results. SI units; `to_json_dict` gives the public JSON contract (DESIGN.md).

A plain frozen dataclass, not a pydantic model: the estimator built every field itself (nothing to validate),
and `estimator train` starts faster without another model class to build.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def to_json_value(value: Any) -> Any:
    """Plain JSON types: tuples become lists, numpy numbers Python numbers, mappings and lists recursively."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, bool | str | int) or value is None:
        return value
    if isinstance(value, float):
        return float(value)
    item = getattr(value, "item", None)  # a numpy scalar
    return item() if callable(item) else value


@dataclass(frozen=True)
class TrainingEstimate:
    """One training estimate: every figure in SI units, with the assumptions that produced it."""

    scenario: str
    model: str
    hardware: str
    gpus: int
    dp: int
    micro_batches: int
    tokens_per_step: float
    params_total: float
    params_active: float
    params_breakdown: dict[str, float]
    flops_model_per_step: float
    flops_hardware_per_step: float
    flops_model_total: float
    flops_6nd_total: float
    flops_forward_per_sample: dict[str, float]
    step_time_s: float
    step_time_s_range: tuple[float, float]
    time_breakdown_s: dict[str, float]
    tokens_per_s: float
    tflops_per_gpu: float
    mfu: float
    hfu: float
    steps: int
    train_time_s: float
    train_time_s_range: tuple[float, float]
    gpu_hours: float
    gpu_hours_range: tuple[float, float]
    cost_usd: float | None
    cost_usd_range: tuple[float, float] | None
    usd_per_gpu_hour: float | None
    energy_kwh: float
    co2_kg: float
    energy_cost_usd: float | None
    memory_per_gpu_bytes: dict[str, float]
    memory_capacity_bytes: float
    memory_stage: str
    activation_terms_bytes: dict[str, float]
    fits_in_memory: bool
    memory_shortfall_bytes: float
    fit_suggestions: list[str]
    assumptions: dict[str, Any]
    phases: list[dict[str, Any]] = dataclasses.field(
        default_factory=list
    )  # a multi-phase run, phase by phase

    @classmethod
    def from_json_dict(cls, doc: dict[str, Any]) -> TrainingEstimate:
        """The estimate back from its JSON form (the `_range` pairs become tuples again)."""
        fields: dict[str, Any] = {
            k: tuple(v) if k.endswith("_range") and isinstance(v, list) else v for k, v in doc.items()
        }
        return cls(**fields)

    def to_json_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict (tuples become lists)."""
        return {f.name: to_json_value(getattr(self, f.name)) for f in dataclasses.fields(self)}
