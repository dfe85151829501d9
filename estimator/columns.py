"""The numeric side of a configuration as columns: Python scalars for one estimate, equal-length numpy
arrays for the planner's grid. The formulas and compositions take these, so `estimator train` and
`estimator plan` evaluate the very same code."""

from __future__ import annotations

from dataclasses import dataclass

from estimator.num import Num
from estimator.specs.scenario import Scenario

RECOMPUTE_CODES = {"none": 0, "selective": 1, "full": 2, "selective-op": 3}
SCHEDULE_CODES = {"1f1b": 0, "interleaved": 1, "gpipe": 2, "dualpipe": 3}


@dataclass(frozen=True)
class Columns:
    """Parallel layout and batch, numerically. `recompute` 0/1/2/3 = none/selective/full/selective-op;
    `schedule` 0/1/2/3 = 1F1B/interleaved/GPipe/DualPipe; `sp` 0/1; `zero` 0–3."""

    gpus: Num
    tp: Num
    pp: Num
    cp: Num
    ep: Num
    dp: Num
    micro_batch: Num
    virtual_stages: Num
    micro_batches: Num
    global_batch: Num
    sp: Num
    zero: Num
    recompute: Num
    schedule: Num
    recompute_share: Num = 1.0  # share of a chunk's layers full recomputation covers (recompute_layers)

    @classmethod
    def from_scenario(cls, sc: Scenario) -> Columns:
        p = sc.parallelism
        return cls(
            gpus=sc.gpus,
            tp=p.tp,
            pp=p.pp,
            cp=p.cp,
            ep=p.ep,
            dp=sc.dp,
            micro_batch=p.micro_batch,
            virtual_stages=p.virtual_stages,
            micro_batches=sc.micro_batches,
            global_batch=sc.training.global_batch,
            sp=int(p.sequence_parallel),
            zero=p.effective_zero_stage,
            recompute=RECOMPUTE_CODES[p.recompute],
            schedule=SCHEDULE_CODES[p.effective_schedule],
            recompute_share=recompute_share(sc),
        )


def recompute_share(sc: Scenario) -> float:
    """Megatron-LM's --recompute-method block --recompute-num-layers N: full recomputation of the first N
    layers of each model chunk (a stage, or a virtual stage when interleaved); the others keep everything."""
    p = sc.parallelism
    if p.recompute != "full" or p.recompute_layers is None:
        return 1.0
    per_chunk = sc.model.total_layers / (p.pp * p.virtual_stages)
    return min(1.0, p.recompute_layers / per_chunk)
