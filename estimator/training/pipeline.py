"""How the layers are split over pipeline stages: explicit, Megatron's first/last-stage counts, or a partition
that balances time, layers or parameters when the layers do not divide evenly.

Ref: Megatron-LM --decoder-first-pipeline-num-layers / --decoder-last-pipeline-num-layers; DeepSpeed
PipelineModule(partition_method="uniform" | "parameters"); Llama Team 2024 (Llama 3 405B: 126 layers on 16
stages, one layer fewer on the first and last stage, Sec. 3.3.2).
"""

from __future__ import annotations

import math

from estimator.errors import InputError
from estimator.specs.model import ModelSpec
from estimator.specs.parallel import ParallelismSpec


def uniform_partition(layers: int, stages: int) -> list[int]:
    """DeepSpeed's partition_uniform: equal parts, the first `layers mod stages` stages one layer more."""
    base, extra = divmod(layers, stages)
    return [base + (1 if r < extra else 0) for r in range(stages)]


def balanced_partition(layers: int, extras: list[float]) -> list[int]:
    """Layer counts n_r ≥ 1 summing to `layers` that minimise max_r (n_r + extras[r]), where extras[r] is the
    stage's other work in layer-equivalents (the output layer and loss on the last stage, the embedding on
    the first). Ties give fewer layers to the first stage, which holds the most micro-batches in flight,
    then to the last."""
    stages = len(extras)
    if layers < stages:
        raise InputError(f"parallelism.pp: {stages} stages for {layers} layers; every stage needs a layer")

    def total(level: float) -> int:
        return sum(max(1, math.floor(level - e + 1e-9)) for e in extras)

    lo, hi = 1.0, layers + max(extras) + 1.0
    for _ in range(100):  # bisection on the level: the smallest one whose counts cover every layer
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if total(mid) >= layers else (mid, hi)
    counts = [max(1, math.floor(hi - e + 1e-9)) for e in extras]
    order = [0, stages - 1, *range(1, stages - 1)]  # who gives a layer back first, among equals
    while sum(counts) > layers:
        worst = max(
            order, key=lambda r: (counts[r] + extras[r] if counts[r] > 1 else -math.inf, -order.index(r))
        )
        counts[worst] -= 1
    return counts


def stage_partition(
    model: ModelSpec, par: ParallelismSpec, extras: list[float] | None = None
) -> list[int] | None:
    """Layers per pipeline stage, or None when the stages are equal (the layers divide evenly and nothing
    else is asked). `extras`: per-stage work besides the layers, in layer-equivalents (for "balanced" and
    "parameters"); the caller computes it from the ledger."""
    layers, pp = model.total_layers, par.pp
    if par.stage_layers is not None:
        if sum(par.stage_layers) != layers:
            raise InputError(
                f"parallelism.stage_layers: they sum to {sum(par.stage_layers)}, the model has "
                f"{layers} layers"
            )
        return list(par.stage_layers)
    if par.first_stage_layers or par.last_stage_layers:
        first = par.first_stage_layers
        last = par.last_stage_layers
        middle_stages = pp - (first is not None) - (last is not None)
        rest = layers - (first or 0) - (last or 0)
        if middle_stages == 0:
            if rest:
                raise InputError(
                    f"parallelism.first/last_stage_layers: they hold {layers - rest} of the {layers} "
                    "layers and no stage is left for the rest"
                )
            return [first or 0, last or 0]
        if rest < middle_stages or rest % middle_stages:
            raise InputError(
                f"parallelism.first/last_stage_layers: the other {middle_stages} stages get {rest} "
                f"layers, which do not divide evenly (Megatron-LM requires it)"
            )
        middle = [rest // middle_stages] * middle_stages
        return ([first] if first is not None else []) + middle + ([last] if last is not None else [])
    if layers % pp == 0 and par.partition == "balanced":
        return None
    if par.partition == "uniform" or extras is None:
        return uniform_partition(layers, pp) if layers % pp else None
    return balanced_partition(layers, extras)
