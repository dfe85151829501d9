"""Frozen result models. SI units; `to_json_dict` gives the public JSON contract (DESIGN.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class TrainingEstimate(BaseModel):
    """One training estimate: every figure in SI units, with the assumptions that produced it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

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

    def to_json_dict(self) -> dict[str, Any]:
        """A plain, JSON-serialisable dict (tuples become lists)."""
        return self.model_dump(mode="json")
