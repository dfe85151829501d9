"""Sums and times over ledger rows: FLOPs (model, executed, recomputed), bytes kept for backward under a
recomputation policy, parameters by group, and the roofline or α-β time of every op on one GPU.

The time of an op is the roofline (Williams et al. 2009) of its kind on the profile's efficiencies, or the
α-β cost of its collective on the link its group uses; backward follows the op's rule in ops.BACKWARD.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from estimator.comms import collective_time_s, intra_node, ranks_per_node, ring_exchange_time_s
from estimator.ledger.model import StageOps
from estimator.ledger.ops import Op, sum_values
from estimator.num import Flag, Num, all_true, choose, is_array, maximum, minimum, where
from estimator.roofline import Efficiencies, compute_time_s

RECOMPUTE_NAMES = ("none", "selective", "full", "selective-op")


@dataclass(frozen=True)
class Links:
    """(α seconds per step, β bytes/s) of the link each parallel group uses. Ranks are laid out tp fastest,
    then cp, then dp, then pp (Megatron-LM's order); a group of `size` ranks `stride` apart stays inside a
    node when stride·size ≤ GPUs per node, else it crosses the network."""

    tp: tuple[Num, Num]
    cp: tuple[Num, Num]
    ep: tuple[Num, Num]
    dp: tuple[Num, Num]
    pp: tuple[Num, Num]
    intra: tuple[Num, Num] = (0.0, 1.0)
    inter: tuple[Num, Num] = (0.0, 1.0)
    ep_nodes: Num = 1  # nodes an expert-parallel group spans

    @classmethod
    def of(cls, eff: Efficiencies, *, tp: Num, cp: Num, ep: Num, dp: Num, gpus_per_node: Num) -> Links:
        def link(stride: Num, size: Num) -> tuple[Num, Num]:
            """A group inside a node uses NVLink; one crossing nodes runs NCCL's rings over the NICs of
            its k ranks in each node at once (one ring per NIC, Jeaugey 2019 'Massively scale your deep
            learning training with NCCL 2.4'), k times one GPU's network bandwidth, at most NVLink's."""
            inside = intra_node(stride=stride, size=size, gpus_per_node=gpus_per_node)
            alpha, beta = eff.link(inside)
            k = ranks_per_node(stride=stride, size=size, gpus_per_node=gpus_per_node)
            across = minimum(eff.inter_bandwidth_bytes_per_s * k, eff.intra_bandwidth_bytes_per_s)
            return alpha, where(inside, beta, across)

        return cls(
            tp=link(1, tp),
            cp=link(tp, cp),
            ep=link(tp * cp, ep),
            dp=link(tp, dp * cp),
            pp=link(tp * cp * dp, 2),
            intra=eff.link(True),
            inter=eff.link(False),
            ep_nodes=maximum((ep * tp * cp + gpus_per_node - 1) // gpus_per_node, 1),
        )


def op_time_s(op: Op, eff: Efficiencies, links: Links) -> tuple[Num, Num]:
    """(forward, backward) seconds of all `count` kernels of `op` on one GPU."""
    rule = op.rule
    if op.kind == "collective":
        alpha, beta = getattr(links, op.group or "tp")
        if op.collective == "ring":
            fwd = ring_exchange_time_s(
                n=op.group_size, payload_bytes=op.bytes, alpha_s=alpha, bandwidth_bytes_per_s=beta
            )
            bwd = ring_exchange_time_s(
                n=op.group_size,
                payload_bytes=op.bytes * rule.byte_scale,
                alpha_s=alpha,
                bandwidth_bytes_per_s=beta,
            )
        elif op.routing is not None:
            fwd = expert_all_to_all_s(op, links)
            bwd = rule.kernels * expert_all_to_all_s(replace(op, bytes=op.bytes * rule.byte_scale), links)
        else:
            kind = op.collective or "all_reduce"
            fwd = collective_time_s(
                collective=kind,
                n=op.group_size,
                payload_bytes=op.bytes,
                alpha_s=alpha,
                bandwidth_bytes_per_s=beta,
            )
            bwd = rule.kernels * collective_time_s(
                collective=kind,
                n=op.group_size,
                payload_bytes=op.bytes * rule.byte_scale,
                alpha_s=alpha,
                bandwidth_bytes_per_s=beta,
            )
        return op.count * fwd, op.count * bwd
    if op.kind in ("gemm", "attention"):
        # fp8/fp4 recipes keep the attention core, the output layer and routers in 16 bits
        if eff.high is not None and (op.kind == "attention" or op.high_precision):
            eff = eff.high
        e, kernel = eff, op.kernel
        if op.grouped and not (isinstance(e.moe_share, float) and e.moe_share == 1.0):
            e = replace(e, gemm_max=e.gemm_max * e.moe_share)

        def timer(flops: Num, bytes_moved: Num) -> Num:
            if op.kind == "gemm":
                return e.gemm_time_s(flops, bytes_moved)
            return e.attention_time_s(flops, bytes_moved, kernel)

        per = op.count if op.grouped else 1.0  # a grouped GEMM is one kernel over every group's work
        fwd = timer(op.flops * per, op.bytes * per)
        bwd = (
            rule.kernels * timer(op.flops * rule.flop_scale * per, op.bytes * rule.byte_scale * per)
            if rule.kernels
            else 0.0
        )
        if op.cast_bytes:  # the recipe's cast kernels: the input in forward, the output gradient in backward
            cast = eff.memory_time_s(op.cast_bytes)
            fwd, bwd = fwd + cast, bwd + cast
        return op.count / per * fwd, op.count / per * bwd
    fwd = eff.memory_time_s(op.bytes)
    return op.count * fwd, op.count * rule.kernels * eff.memory_time_s(op.bytes * rule.byte_scale)


def expert_all_to_all_s(op: Op, links: Links) -> Num:
    """The dispatch or combine all-to-all of an MoE layer, by where the experts live. Inside one node it is
    an NVLink all-to-all (nccl-tests: S·(n−1)/n per rank). Across N nodes a token's k copies go to
    uniformly chosen experts, k·(N−1)/N of them on other nodes, over the network; with node-limited routing
    (DeepSeek-V3 Sec. 3.2.2: each token to at most M nodes, sent once per node over InfiniBand, then
    forwarded over NVLink) the network carries min(M, N·(1 − (1 − 1/N)^k))·(N−1)/N copies and NVLink every
    copy once; the two links work at the same time."""
    assert op.routing is not None
    k, limit = op.routing
    alpha, beta = links.ep
    within = collective_time_s(
        collective="all_to_all",
        n=op.group_size,
        payload_bytes=op.bytes,
        alpha_s=alpha,
        bandwidth_bytes_per_s=beta,
    )
    nodes = links.ep_nodes
    if not is_array(nodes) and nodes <= 1:
        return within
    per_copy = op.bytes / k
    spread = maximum(nodes, 1)
    if limit is None:
        network = per_copy * k * (spread - 1) / spread
        nvlink = per_copy * k * (1 / spread - 1 / maximum(op.group_size, 1))
    else:
        distinct = minimum(limit, spread * (1 - (1 - 1 / spread) ** k))
        network = per_copy * distinct * (spread - 1) / spread
        nvlink = per_copy * k * (1 - 1 / maximum(op.group_size, 1))
    (_, b_in), (a_net, b_net) = links.intra, links.inter
    across = a_net * (spread - 1) + maximum(network / b_net, nvlink / b_in)
    return where(nodes > 1, across, within)


def bound_by(op: Op, eff: Efficiencies) -> str:
    """What limits `op`'s forward kernel: compute, memory or communication (LLM-Viewer's roofline view)."""
    if op.kind == "collective":
        return "communication"
    if op.kind in ("elementwise", "norm") or not all_true(op.flops > 0):
        return "memory"
    eta_max, half = (
        (eff.gemm_max, eff.gemm_half_flops)
        if op.kind == "gemm"
        else (eff.attention_max, eff.attention_half_flops)
    )
    compute = compute_time_s(
        flops=op.flops, peak_flops_per_s=eff.peak_flops_per_s, eta_max=eta_max, half_flops=half
    )
    return "compute" if all_true(compute >= eff.memory_time_s(op.bytes)) else "memory"


@dataclass(frozen=True)
class LayerTime:
    """Seconds of one layer (or a stage's extra ops) for one micro-batch on one GPU, by cause."""

    compute_fwd: Num
    compute_bwd: Num
    tp_fwd: Num
    tp_bwd: Num
    cp_fwd: Num  # ring-attention exchanges not hidden behind the attention kernel
    cp_bwd: Num
    ep_fwd: Num
    ep_bwd: Num
    pp_fwd: Num  # pipeline sends of a stage (its activations forward, their gradients backward)
    pp_bwd: Num
    cp_hidden: Num  # compute time already used to hide ring exchanges (no other communication may use it)
    selective_fwd: Num  # forward time of what selective recomputation repeats
    gemm_fwd: Num = 0.0  # forward time of the weight GEMMs
    memory_fwd: Num = 0.0  # forward time of the elementwise kernels and norms

    @property
    def op_selective_fwd(self) -> Num:
        """What torchtitan's op-level selective recomputation repeats: every elementwise kernel and every
        other weight GEMM (attention and the other GEMMs' outputs are saved)."""
        return self.memory_fwd + self.gemm_fwd / 2

    @property
    def forward(self) -> Num:
        """Everything full recomputation repeats: the layer's whole forward, its collectives included."""
        return self.compute_fwd + self.tp_fwd + self.cp_fwd + self.ep_fwd

    @property
    def backward(self) -> Num:
        return self.compute_bwd + self.tp_bwd + self.cp_bwd + self.ep_bwd


def layer_time(ops: Iterable[Op], eff: Efficiencies, links: Links) -> LayerTime:
    """The time of a list of ops (one layer, or a stage's extras) with ring attention overlapped with the
    attention kernel it accompanies: each of the c − 1 exchanges hides behind one of the c blocks."""
    parts: dict[str, Num] = dict.fromkeys(
        (
            "compute_fwd",
            "compute_bwd",
            "tp_fwd",
            "tp_bwd",
            "ep_fwd",
            "ep_bwd",
            "pp_fwd",
            "pp_bwd",
            "selective_fwd",
            "gemm_fwd",
            "memory_fwd",
        ),
        0.0,
    )
    att_fwd: Num = 0.0
    att_bwd: Num = 0.0
    rings: list[tuple[Op, Num, Num]] = []
    for op in ops:
        fwd, bwd = op_time_s(op, eff, links)
        if op.kind == "collective":
            if op.collective == "ring":
                rings.append((op, fwd, bwd))
                continue
            key = op.group if op.group in ("ep", "pp") else "tp"
            parts[f"{key}_fwd"] = parts[f"{key}_fwd"] + fwd
            parts[f"{key}_bwd"] = parts[f"{key}_bwd"] + bwd
            continue
        parts["compute_fwd"] = parts["compute_fwd"] + fwd
        parts["compute_bwd"] = parts["compute_bwd"] + bwd
        if op.selective_recompute:
            parts["selective_fwd"] = parts["selective_fwd"] + fwd
        if op.kind == "gemm":
            parts["gemm_fwd"] = parts["gemm_fwd"] + fwd
        elif op.kind in ("elementwise", "norm"):
            parts["memory_fwd"] = parts["memory_fwd"] + fwd
        if op.name in ("attention", "softmax"):
            att_fwd, att_bwd = att_fwd + fwd, att_bwd + bwd
    cp_fwd: Num = 0.0
    cp_bwd: Num = 0.0
    hidden: Num = 0.0
    for op, fwd, bwd in rings:
        share = (op.group_size - 1) / op.group_size
        for raw, window, direction in ((fwd, att_fwd * share, "f"), (bwd, att_bwd * share, "b")):
            exposed = maximum(0.0, raw - window)
            hidden = hidden + minimum(raw, window) * (raw > 0)
            if direction == "f":
                cp_fwd = cp_fwd + exposed
            else:
                cp_bwd = cp_bwd + exposed
    return LayerTime(cp_fwd=cp_fwd, cp_bwd=cp_bwd, cp_hidden=hidden, **parts)


def over_stage(stage: StageOps, value: Callable[[tuple[Op, ...]], Num]) -> Num:
    """Σ over a stage: each layer kind's value × its count, plus the first/last-stage extras × 0/1."""
    total: Num = 0.0
    for count, ops in stage.layers:
        total = total + count * value(ops)
    for flag, ops in stage.extras:
        total = total + flag * value(ops)
    return total


def forward_matmul_flops(ops: Iterable[Op]) -> Num:
    return sum_values(op.forward_flops for op in ops if op.matmul)


def model_flops(ops: Iterable[Op]) -> Num:
    """Forward + backward model FLOPs (matmuls, no recomputation; PaLM App. B)."""
    return sum_values(op.model_flops for op in ops)


def executed_flops(ops: Iterable[Op]) -> Num:
    """Forward + backward matmul FLOPs the kernels execute, FlashAttention's recomputed QKᵀ included."""
    return sum_values(op.executed_flops for op in ops if op.matmul)


def recompute_flops(ops: Iterable[Op], recompute: str) -> Num:
    """Matmul FLOPs that activation recomputation repeats in one layer: its whole forward (full), the
    unfused attention core (selective; with FlashAttention there is no s×s tensor left to drop), or every
    other weight GEMM (selective-op: torchtitan's op-level policy saves the outputs of attention and of
    every second matmul and recomputes the rest)."""
    if recompute == "full":
        return forward_matmul_flops(ops)
    if recompute == "selective":
        return sum_values(op.forward_flops for op in ops if op.matmul and op.selective_recompute)
    if recompute == "selective-op":
        return sum_values(op.forward_flops for op in ops if op.kind == "gemm") / 2
    return 0.0


def saved_bytes(ops: Iterable[Op], recompute: str) -> Num:
    """Bytes one layer keeps between its forward and backward under a recomputation policy: every saved
    tensor (none), all but the attention core's s×s tensors (selective, Korthikanti et al. 2022 Sec. 5), or
    only the layer's input (full, Chen et al. 2016)."""
    ops = tuple(ops)
    if recompute == "full":
        return sum_values(op.saved_full for op in ops)
    if recompute == "selective":
        return sum_values(op.saved_selective for op in ops)
    if recompute == "selective-op":  # the layer input and half of what the layer keeps besides it
        full = sum_values(op.saved_full for op in ops)
        return full + (sum_values(op.saved for op in ops) - full) / 2
    return sum_values(op.saved for op in ops)


def saved_by_code(ops: Iterable[Op], code: Flag) -> Num:
    """`saved_bytes` for recompute codes 0/1/2/3 (none/selective/full/selective-op), scalar or per row."""
    ops = tuple(ops)
    return choose(code, [saved_bytes(ops, r) for r in RECOMPUTE_NAMES])


def params_by_group(stage: StageOps, *, local: bool = False, active: bool = False) -> dict[str, Num]:
    """Parameters by group (attention, ffn, experts, router, norms, embedding, …) over a stage or model."""
    out: dict[str, Num] = {}
    for count, ops in stage.layers:
        for op in ops:
            if op.param_group:
                value = op.params_local if local else (op.active if active else op.params)
                out[op.param_group] = out.get(op.param_group, 0.0) + count * value
    for flag, ops in stage.extras:
        for op in ops:
            if op.param_group:
                value = op.params_local if local else (op.active if active else op.params)
                out[op.param_group] = out.get(op.param_group, 0.0) + flag * value
    return out


_BREAKDOWN = {
    "qkv_proj": "qkv_proj",
    "cross_q_proj": "qkv_proj",
    "cross_kv_proj": "qkv_proj",
    "out_proj": "out_proj",
    "cross_out_proj": "out_proj",
    "router": "router",
    "logits": "logits",
    "mlm_transform": "heads",
    "pooler": "heads",
    "nsp_head": "heads",
}


def forward_breakdown(stage: StageOps) -> dict[str, float]:
    """Forward FLOPs by component over a stage or the whole model (the public `flops_forward_per_sample`):
    projections, the two attention matmuls, FFN (experts included), router, logits, BERT heads, adapters,
    and the norms' element-wise work (not model FLOPs); `matmul` sums the matmuls."""
    out = dict.fromkeys(
        (
            "qkv_proj",
            "attn_scores",
            "attn_values",
            "out_proj",
            "ffn",
            "router",
            "logits",
            "heads",
            "adapters",
            "norms",
        ),
        0.0,
    )

    def add(scale: Num, ops: tuple[Op, ...]) -> None:
        for op in ops:
            flops = float(scale * op.forward_flops)
            if op.kind == "norm":
                out["norms"] += flops
            elif op.kind == "attention":
                out["attn_scores"] += flops / 2
                out["attn_values"] += flops / 2
            elif op.name.startswith("lora"):
                out["adapters"] += flops
            elif op.matmul:
                out[_BREAKDOWN.get(op.name, "ffn")] += flops

    for count, ops in stage.layers:
        add(count, ops)
    for flag, ops in stage.extras:
        add(flag, ops)
    out["matmul"] = sum(v for k, v in out.items() if k != "norms")
    return out
