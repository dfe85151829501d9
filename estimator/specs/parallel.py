"""The parallel layout: tensor, pipeline, context, expert, data parallelism; ZeRO; recomputation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from estimator.specs.base import Frozen

Recompute = Literal["none", "selective", "full", "selective-op"]
Schedule = Literal["1f1b", "gpipe", "interleaved", "dualpipe"]
Partition = Literal["balanced", "uniform", "parameters"]
EPOverlap = Literal["none", "1f1b", "dualpipe"]


class ParallelismSpec(Frozen):
    """How the job is split. Data parallelism is derived: dp = gpus / (tp·pp·cp).

    `zero_stage` 0–3 follows Rajbhandari et al. 2020 (3 is the same sharding as FSDP full-shard);
    `fsdp: true` is accepted as a synonym for ZeRO-3. `schedule` defaults to 1F1B, or to the
    interleaved 1F1B of Narayanan et al. 2021 when `virtual_stages` > 1; "dualpipe" is DeepSeek-V3's
    bidirectional schedule (Sec. 3.2.1).

    Pipeline stages: `stage_layers` gives every stage's layer count (uneven stages, as Llama 3 405B's 7 and
    8 layers); `first_stage_layers` / `last_stage_layers` are Megatron-LM's
    --decoder-first/last-pipeline-num-layers (the middle stages share the rest evenly); otherwise layers
    that do not divide evenly are partitioned by `partition`: "balanced" (default: equal time, counting the
    output layer and loss on the last stage in layer-equivalents, ties to the first stage, which holds the
    most activations in flight), "uniform" (DeepSpeed's partition_uniform: the first stages take the
    extra layers) or "parameters" (DeepSpeed's partition_method: equal parameters, embedding and head
    included). `ep_overlap`: the expert all-to-all overlapped with another micro-batch's computation —
    Megatron-Core's 1F1B A2A overlap ("1f1b") or DeepSeek-V3's DualPipe ("dualpipe").
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
    recompute_layers: int | None = Field(default=None, gt=0, le=100_000)  # block method: first N per chunk
    # what selective recomputation repeats besides the unfused attention core (DeepSeek-V3 Sec. 3.2.3:
    # "norms" — every RMSNorm/LayerNorm; "mla_up" — MLA's query and key-value up-projections; "swiglu" —
    # the gated activation's output, recomputed from its kept input)
    recompute_ops: tuple[Literal["norms", "mla_up", "swiglu"], ...] = ()
    schedule: Schedule | None = None
    stage_layers: tuple[int, ...] | None = None
    first_stage_layers: int | None = Field(default=None, gt=0, le=100_000)
    last_stage_layers: int | None = Field(default=None, gt=0, le=100_000)
    partition: Partition = "balanced"
    ep_overlap: EPOverlap = "none"

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
        if self.schedule in ("1f1b", "gpipe", "dualpipe") and self.virtual_stages > 1:
            raise ValueError(f"schedule {self.schedule!r} has one stage per GPU; virtual_stages must be 1")
        if self.stage_layers is not None:
            if len(self.stage_layers) != self.pp:
                raise ValueError(
                    f"stage_layers has {len(self.stage_layers)} entries for pp = {self.pp} stages"
                )
            if any(n < self.virtual_stages for n in self.stage_layers):
                raise ValueError(
                    f"stage_layers: every stage needs at least virtual_stages ({self.virtual_stages}) "
                    "layers, one per model chunk"
                )
            if self.first_stage_layers or self.last_stage_layers:
                raise ValueError("give stage_layers or first/last_stage_layers, not both")
        if (self.first_stage_layers or self.last_stage_layers) and self.pp < 2:
            raise ValueError("first_stage_layers / last_stage_layers need pp ≥ 2")
        return self

    @property
    def model_parallel(self) -> int:
        """GPUs in one model replica: tp·pp·cp."""
        return self.tp * self.pp * self.cp

    @property
    def effective_zero_stage(self) -> int:
        return 3 if self.fsdp else self.zero_stage

    @property
    def uneven(self) -> bool:
        return self.stage_layers is not None or bool(self.first_stage_layers or self.last_stage_layers)

    @property
    def effective_schedule(self) -> Schedule:
        if self.schedule is not None:
            return self.schedule
        return "interleaved" if self.virtual_stages > 1 else "1f1b"
