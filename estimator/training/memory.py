"""Memory per GPU from the ledger: model states under ZeRO/FSDP and tp/pp/ep sharding, the activations each
stage keeps for the micro-batches it has in flight, and overheads.

Ref: Rajbhandari et al. 2020 (ZeRO) Sec. 3 and Fig. 1: K = 12 bytes/param of fp32 optimizer state
(master weights, momentum, variance) for mixed-precision Adam; stage 1 shards it over data-parallel
ranks, stage 2 also the gradients, stage 3 also the weights. Korthikanti et al. 2022 Sec. 4 for
activations, pipeline in-flight micro-batches (Eq. 5) and the first/last-stage extras (Sec. 4.3).
Every function takes `Columns`: scalars for one estimate, arrays for the planner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from estimator.activations import inflight_chunks
from estimator.columns import SCHEDULE_CODES, Columns
from estimator.finetune import NF4_BYTES_PER_PARAM
from estimator.ledger.account import params_by_group, saved_by_code, saved_bytes
from estimator.ledger.model import StageOps
from estimator.ledger.ops import sum_values
from estimator.num import Num, choose, is_array, maximum, reduce_maximum, where
from estimator.specs.precision import OPTIMIZERS, optimizer_bytes_per_param
from estimator.specs.scenario import Scenario


def sharded(*, total: Num, shards: Num, active: Num) -> Num:
    """`total` divided over `shards` where the sharding is `active` (array-safe; active is 0/1)."""
    return total / (1 + active * (shards - 1))


def zero_model_state_bytes(
    *, params: Num, weight_bytes: Num, grad_bytes: Num, optimizer_bytes: Num, zero_stage: Num, dp: Num
) -> tuple[Num, Num, Num]:
    """Weights, gradients and optimizer states per GPU under ZeRO stage 0–3 over `dp` ranks.

    Ref: Rajbhandari et al. 2020, Sec. 5 and Fig. 1: Ψ·(2 + 2 + K) bytes, stage 1 divides K·Ψ by N_d,
    stage 2 also the 2Ψ of gradients, stage 3 (= FSDP full-shard) also the 2Ψ of weights.
    """
    return (
        weight_bytes * sharded(total=params, shards=dp, active=zero_stage >= 3),
        grad_bytes * sharded(total=params, shards=dp, active=zero_stage >= 2),
        optimizer_bytes * sharded(total=params, shards=dp, active=zero_stage >= 1),
    )


@dataclass(frozen=True)
class StageParams:
    """Parameters held by one GPU of one pipeline stage, split by how ZeRO shards them."""

    dense: Num  # sharded by ZeRO over dp·cp
    experts: Num  # sharded by ZeRO over dp·cp/ep
    trainable: Num  # with gradients and optimizer states: all of them, or a frozen base's adapters

    @property
    def total(self) -> Num:
        return self.dense + self.experts


def stage_param_split(sc: Scenario, c: Columns, stage: StageOps) -> StageParams:
    """Parameters on one GPU of a stage, from its ops' `params_local` (the vocabulary split over tp,
    Shoeybi et al. 2019 Sec. 3; norms, routers and row-parallel biases replicated; experts over tp·ep)."""
    groups = params_by_group(stage, local=True)
    experts = groups.get("experts", 0.0)
    adapters = groups.get("adapters", 0.0)
    dense = sum_values(v for k, v in groups.items() if k not in ("experts", "adapters"))
    ft = sc.finetune
    if ft is not None and ft.frozen_base:
        return StageParams(dense=dense, experts=experts, trainable=adapters)
    return StageParams(dense=dense + adapters, experts=experts, trainable=dense + adapters + experts)


def _model_states(sc: Scenario, c: Columns, p: StageParams) -> tuple[Num, Num, Num]:
    """ZeRO shards dense parameters over dp·cp ranks and expert parameters over dp·cp/ep ranks. A frozen
    base keeps its weights only (16-bit, or 4-bit NF4 for QLoRA); its adapters have the full states."""
    prec = sc.precision_policy
    shards = c.dp * c.cp
    expert_shards = maximum(shards // c.ep, 1)
    opt_bytes = optimizer_bytes_per_param(prec, OPTIMIZERS[sc.training.optimizer])
    zero = c.zero
    ft = sc.finetune
    if ft is not None and ft.frozen_base:
        base_bytes = NF4_BYTES_PER_PARAM if ft.method == "qlora" else prec.weight_bytes
        w, g, o = zero_model_state_bytes(
            params=p.trainable,
            weight_bytes=prec.weight_bytes,
            grad_bytes=prec.grad_bytes,
            optimizer_bytes=opt_bytes,
            zero_stage=c.zero,
            dp=shards,
        )
        base = base_bytes * (
            sharded(total=p.dense, shards=shards, active=zero >= 3)
            + sharded(total=p.experts, shards=expert_shards, active=zero >= 3)
        )
        return base + w, g, o
    per_param = dict(
        weight_bytes=prec.weight_bytes,
        grad_bytes=prec.grad_bytes,
        optimizer_bytes=opt_bytes,
        zero_stage=c.zero,
    )
    dense = zero_model_state_bytes(params=p.dense, dp=shards, **per_param)
    experts = zero_model_state_bytes(params=p.experts, dp=expert_shards, **per_param)
    return dense[0] + experts[0], dense[1] + experts[1], dense[2] + experts[2]


def _chunks(c: Columns, rank: Num) -> Num:
    """Micro-batch × model-chunk activations the stage holds at its peak (activations.inflight_chunks)."""
    return choose(
        c.schedule,
        [
            inflight_chunks(
                schedule=s, pp=c.pp, micro_batches=c.micro_batches, virtual_stages=c.virtual_stages, rank=rank
            )
            for s in SCHEDULE_CODES
        ],
    )


def _stage_activations(sc: Scenario, c: Columns, stage: StageOps, rank: Num, enc_tokens: Num) -> Num:
    """Activations of one stage: every layer's kept bytes × the chunks in flight (÷ v: a chunk is 1/v of the
    stage's layers), the encoder output each cross-attention reads, the layer being recomputed in full
    during backward, and the last stage's fp32 logits and output-layer input (Korthikanti Sec. 4.3)."""
    chunks = _chunks(c, rank)
    total: Num = 0.0
    working: Num = 0.0
    for count, ops in stage.layers:
        kept = where(
            c.recompute == 2,
            c.recompute_share * saved_bytes(ops, "full") + (1 - c.recompute_share) * saved_bytes(ops, "none"),
            saved_by_code(ops, c.recompute),
        )
        total = total + count * kept * chunks / c.virtual_stages
        working = maximum(working, (count > 0) * saved_bytes(ops, "none"))
        if any(op.name.startswith("cross_") for op in ops):  # the encoder output every cross-attention reads
            total = (
                total
                + (count > 0)
                * sc.precision_policy.activation_bytes
                * enc_tokens
                * sc.model.d_model
                * chunks
                / c.virtual_stages
            )
    total = total + (c.recompute == 2) * working
    for flag, ops in stage.extras:
        total = total + flag * saved_bytes(ops, "none")
    return total


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes per GPU on the worst pipeline stage, by part, and what decided it."""

    weights: Num
    gradients: Num
    optimizer: Num
    activations: Num
    other: Num
    capacity: float
    stage: Num  # the rank of the worst pipeline stage (0: the first)
    params_on_gpu: Num
    activation_terms: dict[str, float] = field(
        default_factory=dict
    )  # one layer, one micro-batch (scalar path)

    @property
    def total(self) -> Num:
        return self.weights + self.gradients + self.optimizer + self.activations + self.other

    @property
    def fits(self) -> Num:
        return self.total <= self.capacity

    def as_dict(self) -> dict[str, float]:
        return {
            "weights": float(self.weights),
            "gradients": float(self.gradients),
            "optimizer": float(self.optimizer),
            "activations": float(self.activations),
            "other": float(self.other),
            "total": float(self.total),
        }


def _layer_terms(stage: StageOps) -> dict[str, float]:
    """The kept tensors of the stage's first layer kind for one micro-batch, by name (scalar path)."""
    out: dict[str, float] = {}
    for _, ops in stage.layers[:1]:
        for op in ops:
            for name, value in op.saved_terms.items():
                key = f"{op.name}.{name}"
                out[key] = out.get(key, 0.0) + float(value)
    return out


def memory_per_gpu(
    sc: Scenario, c: Columns | None = None, ledgers: list[StageOps] | None = None
) -> MemoryBreakdown:
    """Memory of the worst pipeline stage, by part (`ledgers`: the stages' ops if the caller has them)."""
    from estimator.training.shape import sequence_shape
    from estimator.training.step import stage_candidates, stage_ledgers

    c = c or Columns.from_scenario(sc)
    prec = sc.precision_policy
    enc_tokens = c.micro_batch * sequence_shape(sc).encoder_tokens
    candidates = []
    for cand, stage in zip(stage_candidates(sc, c), ledgers or stage_ledgers(sc, c), strict=True):
        split = stage_param_split(sc, c, stage)
        weights, grads, opt = _model_states(sc, c, split)
        if (
            sc.parallelism.effective_schedule == "dualpipe"
        ):  # two copies of the parameters (DeepSeek-V3 Table 2)
            weights, grads = 2 * weights, 2 * grads
        rank = cand.rank
        acts = _stage_activations(sc, c, stage, rank, enc_tokens)
        biggest_layer = reduce_maximum(
            sum_values(op.params_local for op in ops if op.param_group not in ("", "adapters"))
            for _, ops in stage.layers
        )
        zero3_buffer = (c.zero == 3) * 2 * prec.weight_bytes * biggest_layer  # prefetch: this and next
        dequant = (
            prec.weight_bytes * biggest_layer if (sc.finetune and sc.finetune.method == "qlora") else 0.0
        )
        other = sc.assumptions.framework_overhead_bytes + zero3_buffer + dequant
        candidates.append((weights, grads, opt, acts, other, split.total, stage, rank))
    worst: tuple[Num, ...] = candidates[0][:6]
    index: Num = candidates[0][7]
    for other_stage in candidates[1:]:
        worse = sum_values(other_stage[:5]) > sum_values(worst[:5])
        worst = tuple(where(worse, b, a) for a, b in zip(worst, other_stage[:6], strict=True))
        index = where(worse, other_stage[7], index)
    scalar = not is_array(c.tp)
    parts = [float(x) for x in worst] if scalar else list(worst)
    return MemoryBreakdown(
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        parts[4],
        sc.hardware.memory_bytes,
        int(index) if scalar else index,
        parts[5],
        _layer_terms(candidates[0][6]) if scalar else {},
    )
