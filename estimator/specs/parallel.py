"""The parallel layout: tensor, pipeline, context, expert, data parallelism; ZeRO; recomputation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from estimator.specs.base import Frozen

Recompute = Literal["none", "selective", "full"]
Schedule = Literal["1f1b", "gpipe", "interleaved"]


class ParallelismSpec(Frozen):
    """How the job is split. Data parallelism is derived: dp = gpus / (tp·pp·cp).

    `zero_stage` 0–3 follows Rajbhandari et al. 2020 (3 is the same sharding as FSDP full-shard);
    `fsdp: true` is accepted as a synonym for ZeRO-3. `schedule` defaults to 1F1B, or to the
    interleaved 1F1B of Narayanan et al. 2021 when `virtual_stages` > 1.
    """

    tp: int = Field(default=1, gt=0, le=1_000_000)
    pp: int = Field(default=1, gt=0, le=1_000_000)
    cp: int = Field(default=1, gt=0, le=1_000_000)
    ep: int = Field(default=1, gt=0, le=1_000_000)
    sequence_parallel: bool = False
    virtual_stages: int = Field(default=1, gt=0, le=1_000_000)
    zero_stage: int = Field(default=0, ge=0, le=3)
    fsdp: bool = False
    micro_batch: int = Field(default=1, gt=0, le=1_000_000)
    recompute: Recompute = "none"
    schedule: Schedule | None = None

    @model_validator(mode="after")
    def _check(self) -> ParallelismSpec:
        if self.sequence_parallel and self.tp == 1:
            raise ValueError(
                "sequence_parallel needs tp > 1 (it splits the tensor-parallel region's activations)"
            )
        if self.virtual_stages > 1 and self.pp == 1:
            raise ValueError(
                f"virtual_stages ({self.virtual_stages}) > 1 needs pipeline parallelism (pp > 1)"
            )
        if self.fsdp and self.zero_stage not in (0, 3):
            raise ValueError(f"fsdp: true means ZeRO stage 3; it conflicts with zero_stage {self.zero_stage}")
        if self.schedule == "interleaved" and self.virtual_stages == 1:
            raise ValueError("schedule 'interleaved' needs virtual_stages > 1")
        if self.schedule in ("1f1b", "gpipe") and self.virtual_stages > 1:
            raise ValueError(f"schedule {self.schedule!r} has one stage per GPU; virtual_stages must be 1")
        return self

    @property
    def model_parallel(self) -> int:
        """GPUs in one model replica: tp·pp·cp."""
        return self.tp * self.pp * self.cp

    @property
    def effective_zero_stage(self) -> int:
        return 3 if self.fsdp else self.zero_stage

    @property
    def effective_schedule(self) -> Schedule:
        if self.schedule is not None:
            return self.schedule
        return "interleaved" if self.virtual_stages > 1 else "1f1b"
