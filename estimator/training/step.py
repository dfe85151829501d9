"""A training step from the ledger: each pipeline stage's ops timed by roofline and α-β (ledger.account),
the pipeline schedule, data-parallel gradient synchronisation, ZeRO traffic and the optimizer step.

Takes `Columns`: one configuration as scalars (`estimator train`) or a grid as arrays (`estimator plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from estimator.columns import Columns
from estimator.comms import collective_time_s
from estimator.ledger.account import Links, layer_time
from estimator.ledger.model import StageOps, StageStack, even_stage, stage_ops, stages_of
from estimator.ledger.ops import Op, sum_values
from estimator.ledger.work import Work
from estimator.num import Num, is_array, maximum, minimum, reduce_maximum, where
from estimator.roofline import Efficiencies, resolve_efficiencies
from estimator.schedule import dualpipe_time_s, pipeline_time_s, unpaired_share
from estimator.specs.precision import OPTIMIZERS, RECIPES, Recipe, optimizer_bytes_per_param
from estimator.specs.scenario import Scenario
from estimator.training.shape import executed_causal_fraction, sequence_shape

PARTS = (
    "compute",
    "recompute",
    "tp_comm",
    "cp_comm",
    "ep_comm",
    "pp_comm",
    "bubble",
    "dp_comm",
    "optimizer",
    "overhead",
)


def recipe_of(sc: Scenario) -> Recipe | None:
    """The fp8/fp4 scaling recipe of a low-precision scenario (training.recipe, else the precision's)."""
    prec = sc.precision_policy
    if not prec.low_precision:
        return None
    return RECIPES[sc.training.recipe or prec.default_recipe or "delayed"]


def base_work(sc: Scenario, c: Columns) -> Work:
    """The micro-batch one GPU works on, for `sc` laid out as `c` (lengths are set per layer kind)."""
    recipe = recipe_of(sc)
    return Work(
        batch=c.micro_batch,
        q_len=1.0,
        kv_len=1.0,
        tp=c.tp,
        cp=c.cp,
        ep=c.ep,
        sp=c.sp,
        pp=c.pp,
        act_bytes=sc.precision_policy.activation_bytes,
        flash=sc.training.flash_attention,
        finetune=sc.finetune,
        cast_passes=recipe.cast_passes if recipe else 0.0,
        narrow_bytes=recipe.element_bytes if recipe else 1.0,
        narrow_saved=bool(recipe and recipe.narrow_saved),
        attention_kernel=sc.assumptions.attention_kernel,
    )


def pipeline_send_op(sc: Scenario, c: Columns) -> Op:
    """Point-to-point sends of one stage per micro-batch: the b·s·h activations forward and their gradients
    backward (÷ tp with Megatron's scatter/gather, Narayanan et al. 2021 Sec. 4.1), once per model chunk (v
    chunks when interleaved)."""
    shape = sequence_shape(sc)
    tokens = c.micro_batch * max(shape.encoder_tokens, shape.decoder_tokens) / c.cp
    payload = sc.precision_policy.activation_bytes * tokens * sc.model.d_model / c.tp
    return Op(
        "pp_send",
        "collective",
        "collective",
        bytes=payload,
        count=c.virtual_stages * (c.pp > 1),
        collective="send_recv",
        group="pp",
        group_size=2,
    )


@dataclass(frozen=True)
class StageCandidate:
    """A pipeline stage whose time or memory can be the largest: what it holds, its rank (the in-flight
    micro-batches depend on it) and how many stages look like it (for the mean stage time)."""

    stack: StageStack
    rank: Num
    weight: Num


def partition_extras(sc: Scenario) -> list[float]:
    """Per-stage work besides the layers, in layer-equivalents, for a balanced partition: the output layer,
    loss and MTP modules on the last stage by forward FLOPs ("balanced"), or the embedding and head by
    parameters ("parameters")."""
    from estimator.ledger.account import forward_matmul_flops
    from estimator.training.evaluate import sample_ledger

    pp, layers = sc.parallelism.pp, sc.model.total_layers
    ledger = sample_ledger(sc, executed=True)
    by_params = sc.parallelism.partition == "parameters"

    def size(ops: tuple[Op, ...]) -> float:
        return float(sum(op.params for op in ops) if by_params else forward_matmul_flops(ops))

    per_layer = sum(
        float(count) * size(ops)
        for count, ops in ledger.layers[: len(ledger.layers) - bool(sc.model.mtp_depth)]
    )
    per_layer = per_layer / layers if per_layer else 1.0
    (_, embedding), (_, head), *mtp = ledger.extras
    mtp_layers = sc.model.mtp_depth * (1 + sum(size(ops) for _, ops in mtp) / per_layer)
    return [size(embedding) / per_layer] + [0.0] * (pp - 2) + [size(head) / per_layer + mtp_layers]


def stage_candidates(sc: Scenario, c: Columns) -> list[StageCandidate]:
    """The stages to evaluate. Equal stages (and the planner's grid): the first (embedding), a middle one
    and the last (output layer and loss); the middle stands for the pp − 2 others. An uneven partition
    (scenario only): every distinct stage, at the smallest rank it occurs (the most in flight)."""
    from estimator.training.pipeline import stage_partition

    partition = None
    if not is_array(c.pp):
        needs_extras = sc.parallelism.partition != "uniform" and not sc.parallelism.uneven
        extras = partition_extras(sc) if needs_extras and sc.model.total_layers % c.pp else None
        partition = stage_partition(sc.model, sc.parallelism, extras)
    if partition is None:
        mid = minimum(1, c.pp - 1)
        return [
            StageCandidate(even_stage(sc.model, pp=c.pp, rank=0), 0, 1),
            StageCandidate(even_stage(sc.model, pp=c.pp, rank=mid), mid, maximum(c.pp - 2, 0)),
            StageCandidate(even_stage(sc.model, pp=c.pp, rank=c.pp - 1), c.pp - 1, c.pp > 1),
        ]
    seen: dict[StageStack, StageCandidate] = {}
    for rank, stack in enumerate(stages_of(sc.model, partition)):
        known = seen.get(stack)
        seen[stack] = (
            StageCandidate(stack, rank, 1) if known is None else replace(known, weight=known.weight + 1)
        )
    return list(seen.values())


def stage_stacks(sc: Scenario, c: Columns) -> list[StageStack]:
    """The stacks of `stage_candidates`."""
    return [cand.stack for cand in stage_candidates(sc, c)]


def stage_ledgers(sc: Scenario, c: Columns) -> list[StageOps]:
    """The ops of each candidate stage for one micro-batch, as the kernels execute them (eager elementwise
    code moving more bytes when the stack does not fuse it)."""
    work = base_work(sc, c)
    frac = executed_causal_fraction(sc.training.flash_attention)
    send = pipeline_send_op(sc, c)
    out = []
    for cand in stage_candidates(sc, c):
        ops = stage_ops(sc.model, work, sequence_shape(sc), cand.stack, frac)
        ops = replace(ops, extras=(*ops.extras, (1, (send,))))
        if sc.parallelism.recompute_ops:
            ops = replace(
                ops,
                layers=tuple(
                    (n, selective_ops(layer, sc.parallelism.recompute_ops)) for n, layer in ops.layers
                ),
            )
        if not sc.assumptions.fused_elementwise:
            ops = replace(
                ops,
                layers=tuple((n, eager_ops(layer, sc.model)) for n, layer in ops.layers),
                extras=tuple((f, eager_ops(extra, sc.model)) for f, extra in ops.extras),
            )
        out.append(ops)
    return out


def selective_ops(ops: tuple[Op, ...], names: tuple[str, ...]) -> tuple[Op, ...]:
    """`ops` with the extra selective recomputation of `names`: "norms" drops every norm's saved input and
    repeats the norm; "mla_up" drops the queries, keys and values MLA's up-projections produce for the
    attention core and repeats those projections; "swiglu" drops the gated product fc2 reads and repeats
    the activation (DeepSeek-V3 Sec. 3.2.3 and 3.3.3)."""
    out = []
    for op in ops:
        if "norms" in names and op.kind == "norm":
            op = replace(op, selective_drop=(*op.selective_drop, *op.saved_terms), selective_recompute=True)
        elif "mla_up" in names and op.name in ("q_up_proj", "kv_up_proj"):
            op = replace(op, selective_recompute=True)
        elif "mla_up" in names and op.kind == "attention":
            drop = tuple(k for k in ("q", "k", "v") if k in op.saved_terms)
            op = replace(op, selective_drop=(*op.selective_drop, *drop))
        elif "swiglu" in names and op.name.endswith("activation"):
            op = replace(op, selective_recompute=True)
        elif "swiglu" in names and op.name.endswith("fc2") and "ffn_act_output" in op.saved_terms:
            op = replace(op, selective_drop=(*op.selective_drop, "ffn_act_output"))
        out.append(op)
    return tuple(out)


def eager_traffic() -> dict[str, float]:
    """Eager ÷ fused HBM bytes per op kind (efficiency_defaults.yaml: eager_traffic, measured by
    estimator/calibration/eager.py)."""
    from estimator.roofline import efficiency_defaults

    table = efficiency_defaults()["eager_traffic"]
    return {k: float(v) for k, v in table.items() if isinstance(v, int | float)}


def _eager_kind(op: Op, model: Any) -> str | None:
    name = op.name.removeprefix("mtp_")
    if op.kind == "norm" and model.norm == "rmsnorm":
        return "rmsnorm"
    if name == "rope":
        return "rope"
    if name.endswith("activation") and model.gated_ffn:
        return "swiglu"
    if name == "cross_entropy":
        return "cross_entropy"
    return None  # LayerNorm, GeLU, residual adds: one kernel in eager PyTorch too


def eager_ops(ops: tuple[Op, ...], model: Any) -> tuple[Op, ...]:
    """`ops` as eager PyTorch runs them: each RMSNorm, RoPE, gated activation and loss moves the measured
    multiple of its fused kernel's bytes."""
    factors = eager_traffic()
    out = []
    for op in ops:
        kind = _eager_kind(op, model)
        out.append(replace(op, bytes=op.bytes * factors[kind]) if kind else op)
    return tuple(out)


def _stage_parts(
    stage: StageOps,
    eff: Efficiencies,
    links: Links,
    recompute: Num,
    tp_overlap: Num = 0.0,
    full_share: Num = 1.0,
) -> dict[str, Num]:
    """Per micro-batch seconds of one stage by cause. `tp_overlap`: the tensor-parallel collectives are
    split into tp chunks pipelined with the layer's GEMMs (Transformer Engine userbuffers, PyTorch async
    TP), so only the first chunk and what the layer's compute cannot cover are exposed (0 or the tp size)."""
    parts: dict[str, Num] = dict.fromkeys(
        ("compute", "recompute", "tp_comm", "cp_comm", "ep_comm", "pp_comm", "cp_hidden"), 0.0
    )
    rc = recompute

    def tp_exposed(comm: Num, compute: Num) -> Num:
        if not is_array(tp_overlap) and not tp_overlap:
            return comm
        first = comm / maximum(tp_overlap, 1)
        return first + maximum(0.0, comm - first - compute)

    def add(scale: Any, ops: tuple[Op, ...], layer: bool) -> None:
        lt = layer_time(ops, eff, links)
        parts["compute"] = parts["compute"] + scale * (lt.compute_fwd + lt.compute_bwd)
        parts["tp_comm"] = parts["tp_comm"] + scale * (
            tp_exposed(lt.tp_fwd, lt.compute_fwd) + tp_exposed(lt.tp_bwd, lt.compute_bwd)
        )
        parts["cp_comm"] = parts["cp_comm"] + scale * (lt.cp_fwd + lt.cp_bwd)
        parts["ep_comm"] = parts["ep_comm"] + scale * (lt.ep_fwd + lt.ep_bwd)
        parts["pp_comm"] = parts["pp_comm"] + scale * (lt.pp_fwd + lt.pp_bwd)
        parts["cp_hidden"] = parts["cp_hidden"] + scale * lt.cp_hidden
        if layer:
            parts["recompute"] = parts["recompute"] + scale * (
                (rc == 2) * full_share * lt.forward
                + (rc == 1) * lt.selective_fwd
                + (rc == 3) * lt.op_selective_fwd
            )

    for count, ops in stage.layers:
        add(count, ops, True)
    for flag, ops in stage.extras:
        add(flag, ops, False)
    return parts


@dataclass(frozen=True)
class StepTime:
    """Seconds of one optimizer step by cause (on the critical path), and the efficiencies used."""

    compute: Num
    recompute: Num
    tp_comm: Num
    cp_comm: Num
    ep_comm: Num
    pp_comm: Num
    bubble: Num
    dp_comm: Num
    optimizer: Num
    efficiencies: Efficiencies
    overhead: Num = 0.0  # the fixed per-step cost of the generation's fitted calibration

    @property
    def total(self) -> Num:
        return sum_values(getattr(self, k) for k in PARTS)

    def as_dict(self) -> dict[str, Num]:
        return {k: getattr(self, k) for k in PARTS}


def _dp_and_optimizer_s(
    sc: Scenario,
    c: Columns,
    eff: Efficiencies,
    links: Links,
    params: Num,
    trainable: Num,
    last_backward_s: Num,
    compute_per_mb: Num,
) -> tuple[Num, Num]:
    """(exposed gradient/parameter sync, optimizer step) seconds.

    ZeRO-0: all-reduce of the gradients; ZeRO-1/2: reduce-scatter of gradients and all-gather of the
    updated parameters (the same volume); ZeRO-3/FSDP instead all-gathers the weights in forward and in
    backward of every micro-batch, prefetched behind its compute (1.5× the volume, Rajbhandari et al.
    2020 Sec. 7). The gradient reduction hides behind the last micro-batch's backward when
    `overlap_grad_reduce` is on, ZeRO-1/2's parameter all-gather behind the next step's first forward when
    `overlap_param_gather` is. The optimizer step is memory-bound: it reads gradients, reads and
    writes master weights and states, and writes the 16-bit weights. Only `trainable` parameters (the
    adapters of a frozen base) have gradients to reduce and states to update.
    """
    prec, a = sc.precision_policy, sc.assumptions
    n = c.dp * c.cp
    alpha, beta = links.dp
    grads = trainable * (4 if a.fp32_grad_reduce else prec.grad_bytes)
    weights = params * prec.weight_bytes
    zero = c.zero

    def coll(kind: Any, payload: Num) -> Num:
        return where(
            n > 1,
            collective_time_s(
                collective=kind,
                n=maximum(n, 2),
                payload_bytes=payload,
                alpha_s=alpha,
                bandwidth_bytes_per_s=beta,
            ),
            0.0,
        )

    sync: Num = where(zero == 0, coll("all_reduce", grads), coll("reduce_scatter", grads))
    # ZeRO 0-2: a model chunk's gradients are reduced once the last micro-batch's backward has left it. With
    # v chunks per stage (interleaving) the last micro-batch leaves chunk j ≈ j·pp chunk-steps before the
    # end of the step, so the reduction of the first chunks runs during the rest of the backward; the last
    # chunk's share hides only behind its own backward. ZeRO-1/2 then all-gather the updated parameters,
    # which the next step's forward needs chunk by chunk in the same order (Megatron-Core).
    v = c.virtual_stages
    chunk_bwd, chunk_fwd = last_backward_s / v, compute_per_mb / 3 / v
    reach = (v - 1) * c.pp + 1  # chunk-steps from the first chunk's last backward to the step's end
    exposed_sync = (
        maximum(0.0, maximum(sync / v - chunk_bwd, sync - reach * chunk_bwd))
        if a.overlap_grad_reduce
        else sync
    )
    gather = coll("all_gather", trainable * prec.weight_bytes)
    if a.overlap_param_gather:
        gather = maximum(0.0, gather - reach * chunk_fwd)
    plain = exposed_sync + (zero >= 1) * gather
    # ZeRO-3: one communication stream carries two weight all-gathers per micro-batch and, in the last one,
    # the reduce-scatter too; what exceeds that micro-batch's compute is exposed (the window is used once)
    gathers = 2 * coll("all_gather", weights)
    last_mb = gathers + (sync if a.overlap_grad_reduce else 0.0)
    zero3 = (
        (c.micro_batches - 1) * maximum(0.0, gathers - compute_per_mb)
        + maximum(0.0, last_mb - compute_per_mb)
        + (0.0 if a.overlap_grad_reduce else sync)
    )
    exposed = where(zero == 3, zero3, plain)
    shard = trainable / where(zero >= 1, n, 1)
    optimizer = OPTIMIZERS[sc.training.optimizer]
    opt_bytes = shard * (prec.grad_bytes + 2 * optimizer_bytes_per_param(prec, optimizer) + prec.weight_bytes)
    # Muon orthogonalises each m×n update (m ≤ n) by Newton–Schulz: 4·m²·n + 2·m³ FLOPs per iteration, per
    # parameter 4·m + 2·m²/n, at most 6·m; the layers' matrices have m = d_model (Jordan et al. 2024)
    ns_flops = shard * optimizer.newton_schulz_steps * 6 * sc.model.d_model
    return exposed, eff.memory_time_s(opt_bytes) + eff.gemm_time_s(ns_flops, 0.0)


def _overlapped(parts: dict[str, Num], schedule: str, c: Columns) -> dict[str, Num]:
    """A stage's per-micro-batch time with its expert all-to-alls overlapped with another micro-batch's
    computation (Megatron-Core's 1F1B A2A overlap; DeepSeek-V3's DualPipe, which overlaps the pipeline
    sends too): paired micro-batches expose only what the other's compute cannot cover; the warm-up and
    drain ones (`schedule.unpaired_share`) expose all of it."""
    unpaired = unpaired_share(schedule=schedule, pp=c.pp, micro_batches=c.micro_batches)
    cover = parts["compute"] - parts["cp_hidden"]
    ep = parts["ep_comm"]
    out = {**parts, "ep_comm": unpaired * ep + (1 - unpaired) * maximum(0.0, ep - cover)}
    if schedule == "dualpipe":
        out["pp_comm"] = unpaired * parts["pp_comm"]
    return out


def links_of(sc: Scenario, c: Columns, eff: Efficiencies) -> Links:
    return Links.of(eff, tp=c.tp, cp=c.cp, ep=c.ep, dp=c.dp, gpus_per_node=sc.hardware.gpus_per_node)


def step_time(
    sc: Scenario,
    efficiencies: Efficiencies | None = None,
    columns: Columns | None = None,
    ledgers: list[StageOps] | None = None,
) -> StepTime:
    """The step time of `sc` (or of the grid `columns` laid over `sc`) with its breakdown; `ledgers` are the
    stages' ops if the caller has them already."""
    from estimator.training.memory import stage_param_split

    c = columns or Columns.from_scenario(sc)
    eff = efficiencies or resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    links = links_of(sc, c, eff)
    ledgers = ledgers or stage_ledgers(sc, c)
    candidates = stage_candidates(sc, c)
    a = sc.assumptions
    tp_overlap = c.tp if a.tp_comm_overlap else 0.0
    stages = [
        _stage_parts(stage, eff, links, c.recompute, tp_overlap, c.recompute_share) for stage in ledgers
    ]
    schedule = sc.parallelism.effective_schedule if not is_array(c.schedule) else "1f1b"
    overlap = "dualpipe" if schedule == "dualpipe" else sc.parallelism.ep_overlap
    if overlap != "none":
        stages = [_overlapped(parts, schedule, c) for parts in stages]
    if a.pp_comm_overlap and schedule != "dualpipe":
        # sends and receives of one micro-batch run while the stage computes the next (Megatron's
        # overlap_p2p_comm); the warm-up and drain ones have nothing to hide behind
        unpaired = unpaired_share(schedule=schedule, pp=c.pp, micro_batches=c.micro_batches)
        stages = [{**parts, "pp_comm": unpaired * parts["pp_comm"]} for parts in stages]
    totals = [sum_values(v for k, v in s.items() if k != "cp_hidden") for s in stages]
    t_max, worst = totals[0], dict(stages[0])
    for total, parts in zip(totals[1:], stages[1:], strict=True):
        worse = total > t_max
        worst = {k: where(worse, parts[k], worst[k]) for k in worst}
        t_max = maximum(t_max, total)
    t_mean = sum_values(cand.weight * t for cand, t in zip(candidates, totals, strict=True)) / c.pp
    m = c.micro_batches
    if schedule == "dualpipe":
        pipe = dualpipe_time_s(stage_max_s=t_max, stage_mean_s=t_mean, micro_batches=m, pp=c.pp)
    else:
        pipe = pipeline_time_s(
            stage_max_s=t_max, stage_mean_s=t_mean, micro_batches=m, pp=c.pp, virtual_stages=c.virtual_stages
        )
    splits = [stage_param_split(sc, c, stage) for stage in ledgers]
    params = reduce_maximum(s.total for s in splits)
    trainable = reduce_maximum(s.trainable for s in splits)
    window = worst["compute"] - worst["cp_hidden"]  # compute time not already hiding ring-attention exchanges
    dp_exposed, optimizer = _dp_and_optimizer_s(sc, c, eff, links, params, trainable, window * 2 / 3, window)
    out = {
        "compute": m * worst["compute"],
        "recompute": m * worst["recompute"],
        "tp_comm": m * worst["tp_comm"],
        "cp_comm": m * worst["cp_comm"],
        "ep_comm": m * worst["ep_comm"],
        "pp_comm": m * worst["pp_comm"],
        "bubble": pipe - m * t_max,
        "dp_comm": dp_exposed,
        "optimizer": optimizer,
        "overhead": eff.step_overhead_s,
    }
    if not any(is_array(v) for v in out.values()):  # one configuration: plain floats
        out = {k: float(v) for k, v in out.items()}
    return StepTime(**out, efficiencies=eff)


def op_roofline(sc: Scenario) -> list[dict[str, Any]]:
    """Every op of the slowest pipeline stage for one training step on one GPU, with what bounds its
    forward kernel (compute, memory or communication: the ledger's `bound_by`), its arithmetic intensity
    and its seconds per step (forward + backward, all its layers and micro-batches) — LLM-Viewer's
    per-layer roofline, for training. Collectives are listed at their full time, before any overlap."""
    from estimator.ledger.account import bound_by, op_time_s

    c = Columns.from_scenario(sc)
    eff = resolve_efficiencies(sc.hardware, sc.precision_policy.compute_dtype)
    links = links_of(sc, c, eff)
    micro = float(c.micro_batches)
    best: list[dict[str, Any]] = []
    best_total = -1.0
    for rank, stage in enumerate(stage_ledgers(sc, c)):
        rows: list[dict[str, Any]] = []
        groups = [(float(n), ops, f"layer ×{float(n):g}") for n, ops in stage.layers] + [
            (float(f), ops, "stage") for f, ops in stage.extras
        ]
        for n, ops, where_ in groups:
            if n <= 0:
                continue
            for op in ops:
                fwd, bwd = (float(x) for x in op_time_s(op, eff, links))
                if fwd + bwd <= 0:
                    continue
                moved = float(op.bytes)
                rows.append(
                    {
                        "stage": rank,
                        "where": where_,
                        "op": op.name,
                        "kind": op.kind,
                        "bound_by": bound_by(op, eff),
                        "gflop_per_kernel": float(op.flops) / 1e9,
                        "mb_per_kernel": moved / 1e6,
                        "flop_per_byte": float(op.flops) / moved if moved else float("inf"),
                        "seconds_per_step": n * micro * (fwd + bwd),
                    }
                )
        total = sum(r["seconds_per_step"] for r in rows)
        if total > best_total:
            best, best_total = rows, total
    for r in best:
        r["share"] = r["seconds_per_step"] / best_total if best_total else 0.0
    return sorted(best, key=lambda r: -r["seconds_per_step"])
