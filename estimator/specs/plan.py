"""What a capacity-planning search may vary, and the limits a plan must respect."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from estimator.specs.base import Frozen
from estimator.specs.parallel import Recompute
from estimator.specs.precision import PrecisionName

Objective = Literal["cost", "time", "pareto"]
RankBy = Literal["high", "central", "low"]
Count = Annotated[int, Strict(), Field(gt=0, le=1_000_000_000)]  # a whole number, never true or "8"


class PlanSpec(Frozen):
    """The planner's search space and constraints. Empty lists mean "the scenario's own value".

    `hardware`: profile names to compare (the scenario's `pricing` applies to its own hardware; the others
    are priced from their profiles); `max_gpus`/`min_gpus`: the GPU counts tried are node multiples
    of the form 2^k and 3·2^k between them; `deadline_days` and `budget_usd` drop plans that exceed
    them; `memory_headroom` keeps that fraction of each GPU's memory free (default 10 %); plans above
    `near_memory_fraction` of the usable memory are flagged. `rank_by`: which end of each plan's
    step-time range the ranking uses (default the upper end: a plan must be cheap even if the model is
    optimistic about it; "central" is the point estimate).
    """

    hardware: tuple[str, ...] = ()
    max_gpus: int = Field(default=4096, gt=0, le=10_000_000)
    min_gpus: int = Field(default=1, gt=0, le=10_000_000)
    deadline_days: float | None = Field(default=None, gt=0.0, le=100_000.0)
    budget_usd: float | None = Field(default=None, gt=0.0, le=1.0e13)
    global_batch: tuple[Count, ...] = ()
    precisions: tuple[PrecisionName, ...] = ()
    recompute: tuple[Recompute, ...] = ("none", "selective", "full")
    zero_stages: tuple[Annotated[int, Strict()], ...] = (0, 1, 2, 3)
    micro_batches: tuple[Count, ...] = (1, 2, 4, 8)
    max_tp: int = Field(default=8, gt=0, le=1024)
    max_cp: int = Field(default=4, gt=0, le=1024)
    max_virtual_stages: int = Field(default=6, gt=0, le=128)
    memory_headroom: float = Field(default=0.10, ge=0.0, lt=1.0)
    near_memory_fraction: float = Field(default=0.95, gt=0.0, le=1.0)
    objective: Objective = "cost"
    rank_by: RankBy = "high"

    @model_validator(mode="after")
    def _check(self) -> PlanSpec:
        if self.min_gpus > self.max_gpus:
            raise ValueError(f"plan.min_gpus ({self.min_gpus}) exceeds plan.max_gpus ({self.max_gpus})")
        if any(z not in (0, 1, 2, 3) for z in self.zero_stages):
            raise ValueError(f"plan.zero_stages: {list(self.zero_stages)} must be drawn from 0, 1, 2, 3")
        return self
