"""Serving one request shape: prefill (time to first token), decode (time per output token), memory,
the largest batch and context that fit. Same roofline, efficiencies and links as training.

Decode (Pope et al. 2022, "Efficiently Scaling Transformer Inference", Sec. 2): every step reads all
weights a token touches (÷ tp) and the batch's KV cache, and computes 2·N_active FLOPs per sequence;
at small batch it is bound by HBM bandwidth. Prefill is the forward pass of training's layer model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from estimator.kvcache import cache_elements_per_token, kv_bytes_per_token
from estimator.ledger.account import Links, layer_time, op_time_s
from estimator.ledger.layers import layer_ops
from estimator.ledger.model import SampleShape, head_ops
from estimator.ledger.ops import Op
from estimator.ledger.work import Work
from estimator.num import Num
from estimator.params import count_params
from estimator.roofline import Efficiencies, efficiency_defaults, resolve_efficiencies
from estimator.specs.hardware import ServingCalibration
from estimator.specs.inference import InferenceScenario
from estimator.specs.model import ModelSpec
from estimator.training.shape import executed_causal_fraction

KERNELS_PER_LAYER = 10  # norms, QKV, RoPE, attention, output, residuals, FFN: launches a decode step pays


def efficiencies(sc: InferenceScenario, serving: ServingCalibration | None | bool = True) -> Efficiencies:
    """The serving efficiencies: the profile's best-shape GEMM fractions (as training's) at the share a
    serving engine sustains, the HBM share decode streaming reaches and the per-step cost, from the
    generation's serving calibration (`serving`: True the profile's, None the documented defaults)."""

    from estimator.roofline import sustained_fraction

    hw = sc.hardware
    if serving is True:
        serving = hw.calibration.serving if hw.calibration else None
    base = resolve_efficiencies(hw, sc.precision, False)
    if not serving:
        return base
    default, _ = sustained_fraction(None, sc.precision)
    return scale_serving(
        base,
        serving.sustained / default,
        serving.memory_bandwidth_efficiency,
        serving.step_overhead_s,
        serving.moe_gemm_share,
        serving.prefill_overhead_s,
        serving.kv_bandwidth_efficiency,
    )


def scale_serving(
    base: Efficiencies,
    k: Num,
    memory: Num,
    overhead: Num,
    moe: Num = 1.0,
    prefill: Num = 0.0,
    kv: Num | None = None,
) -> Efficiencies:
    """`base` with its GEMM and attention shares scaled by `k`, HBM efficiency `memory` and a per-step cost
    (array-safe: the serving fit scores many candidates at once)."""
    from dataclasses import replace

    def one(eff: Efficiencies) -> Efficiencies:
        return eff.compute_scaled(k, memory=memory, moe_share=moe, attention_memory=kv)

    out = replace(one(base), step_overhead_s=overhead, prefill_overhead_s=prefill)
    return replace(out, high=one(base.high)) if base.high is not None else out


def serving_work(
    sc: InferenceScenario,
    *,
    sequences: Num,
    q_len: Num,
    kv_len: Num,
    causal: float,
    whole_replica: bool = False,
) -> Work:
    """The work of one replica's GPU (or, `whole_replica`, of all its GPUs as one): `sequences` sequences of
    `q_len` new tokens attending to `kv_len`, weights and the KV cache read at their stored widths."""
    return Work(
        batch=sequences,
        q_len=q_len,
        kv_len=kv_len,
        tp=1 if whole_replica else sc.parallelism.tp,
        act_bytes=sc.act_bytes,
        weight_bytes=sc.weight_bytes / sc.weight_stream_factor,  # dequantising kernels stream slower
        kv_bytes=sc.kv_bytes,
        flash=sc.flash_attention,
        causal_fraction=causal,
    )


def _links(sc: InferenceScenario, eff: Efficiencies) -> Links:
    return Links.of(eff, tp=sc.parallelism.tp, cp=1, ep=1, dp=1, gpus_per_node=sc.hardware.gpus_per_node)


def _forward_s(ops: tuple[Op, ...] | list[Op], eff: Efficiencies, links: Links) -> Num:
    lt = layer_time(ops, eff, links)
    return lt.compute_fwd + lt.tp_fwd + lt.ep_fwd


def prefill_time_s(
    sc: InferenceScenario, *, prompt_tokens: float, batch: Num, eff: Efficiencies | None = None
) -> Num:
    """One engine step that prefills `batch` prompts together (causal, FlashAttention skipping masked
    blocks when on), through the pp stages one after another, and samples each prompt's first token from
    the logits of its last position: at batch 1 this is the time to first token."""
    eff = eff or efficiencies(sc)
    model = sc.model
    links = _links(sc, eff)
    causal = executed_causal_fraction(sc.flash_attention)
    if model.architecture == "encoder-decoder":
        enc = serving_work(sc, sequences=batch, q_len=prompt_tokens, kv_len=prompt_tokens, causal=1.0)
        dec = serving_work(sc, sequences=batch, q_len=1, kv_len=1, causal=causal)
        layers = model.n_layers * _forward_s(
            layer_ops(model, enc), eff, links
        ) + model.n_decoder_layers * _forward_s(layer_ops(model, dec, cross_kv_len=prompt_tokens), eff, links)
    else:
        work = serving_work(sc, sequences=batch, q_len=prompt_tokens, kv_len=prompt_tokens, causal=causal)
        layers = model.n_layers * _forward_s(layer_ops(model, work), eff, links)
    launches = (model.n_layers + model.n_decoder_layers) * KERNELS_PER_LAYER * _kernel_overhead_s()
    return layers + _logits_step_s(sc, eff, batch) + launches + eff.prefill_overhead_s


def _kernel_overhead_s() -> float:
    return float(efficiency_defaults()["kernel_overhead_s"]["value"])


def _logits_step_s(sc: InferenceScenario, eff: Efficiencies, sequences: Num) -> Num:
    """The LM head for one position per sequence: reads the V×h/tp weight, computes 2·h·V/tp per sequence."""
    work = serving_work(sc, sequences=sequences, q_len=1, kv_len=1, causal=1.0)
    head = [op for op in head_ops(sc.model, work, SampleShape(1.0, 0.0, 1.0)) if op.name == "logits"]
    return sum(op_time_s(op, eff, _links(sc, eff))[0] for op in head)


@dataclass(frozen=True)
class DecodeStep:
    """One decode step for `sequences` sequences at `context` tokens each, on one replica."""

    weights_s: Num
    kv_s: Num
    elementwise_s: Num
    tp_comm_s: Num
    overhead_s: Num
    logits_s: Num

    @property
    def total(self) -> Num:
        return (
            self.weights_s + self.kv_s + self.elementwise_s + self.tp_comm_s + self.overhead_s + self.logits_s
        )


def decode_ops(
    sc: InferenceScenario, *, sequences: Num, context: Num, whole_replica: bool = False
) -> list[Op]:
    """One decoder layer's ops for one new token of each of `sequences` sequences at `context` tokens: every
    weight a token touches is read (MoE: only the experts the batch touches), attention reads the KV cache.
    An encoder-decoder's cross-attention K/V were computed at prefill and are read from the cache."""
    model = sc.model
    work = serving_work(
        sc, sequences=sequences, q_len=1, kv_len=context, causal=1.0, whole_replica=whole_replica
    )
    if model.architecture == "encoder-decoder":
        ops = layer_ops(model, work, cross_kv_len=sc.inference.prompt_tokens.mean)
        return [op for op in ops if op.name != "cross_kv_proj"]
    ops = layer_ops(model, work)
    if model.is_mla:
        return [_mla_absorbed_attention(model, work) if op.name == "attention" else op for op in ops]
    return ops


def _mla_absorbed_attention(model: ModelSpec, w: Work) -> Op:
    """Decode attention of multi-head latent attention in its absorbed form (DeepSeek-V2 Sec. 2.1.2): the
    key up-projection is folded into the query and the value up-projection into the output, so each of
    the local heads scores the cached latent (r_kv) plus the decoupled rope key (d_rope) of every context
    token and sums the latents: 2·a/t·(r_kv + d_rope) + 2·a/t·r_kv FLOPs per cached token per sequence;
    the kernel reads the latent cache once (FlashMLA)."""
    heads = model.n_heads / w.tp
    rank, rope = model.kv_lora_rank or 0, model.qk_rope_head_dim or 0
    tokens = w.batch * w.kv_len
    return Op(
        "attention",
        "attention",
        "flash",
        flops=2 * tokens * heads * w.q_len * (2 * rank + rope),
        bytes=w.kvbytes * tokens * cache_elements_per_token(model)
        + w.act_bytes * w.batch * w.q_len * heads * (2 * rank + rope),
        matmul=True,
    )


def decode_flops(sc: InferenceScenario, *, sequences: Num, context: Num) -> Num:
    """Matmul FLOPs of one decode step of the whole replica (every layer and the LM head): what Hugging Face
    `generate` executes per new token with a KV cache (tests/calibration/test_generate.py)."""
    model = sc.model
    layers = model.n_decoder_layers or model.n_layers
    work = serving_work(sc, sequences=sequences, q_len=1, kv_len=context, causal=1.0, whole_replica=True)
    head = [op for op in head_ops(model, work, SampleShape(1.0, 0.0, 1.0)) if op.matmul]
    ops = decode_ops(sc, sequences=sequences, context=context, whole_replica=True)
    return layers * sum(op.forward_flops for op in ops if op.matmul) + sum(op.forward_flops for op in head)


def prefill_flops(sc: InferenceScenario, *, prompt_tokens: float, sequences: Num) -> Num:
    """Matmul FLOPs of the prefill of `sequences` prompts (the causal share the kernel computes) and the LM
    head of each last position."""
    model = sc.model
    work = serving_work(
        sc,
        sequences=sequences,
        q_len=prompt_tokens,
        kv_len=prompt_tokens,
        causal=executed_causal_fraction(sc.flash_attention),
        whole_replica=True,
    )
    layer = sum(op.forward_flops for op in layer_ops(model, work) if op.matmul)
    head = [op for op in head_ops(model, replace(work, q_len=1), SampleShape(1.0, 0.0, 1.0)) if op.matmul]
    return model.n_layers * layer + sum(op.forward_flops for op in head)


def decode_step(
    sc: InferenceScenario, *, sequences: Num, context: Num, eff: Efficiencies | None = None
) -> DecodeStep:
    """Roofline of one decode step: weight GEMMs (memory-bound at small batch), attention over the KV
    cache, two tensor-parallel all-reduces per layer, kernel launches, and the LM head."""
    eff = eff or efficiencies(sc)
    model = sc.model
    layers = model.n_decoder_layers or model.n_layers
    links = _links(sc, eff)
    parts: dict[str, Num] = dict.fromkeys(("gemm", "attention", "elementwise", "collective"), 0.0)
    for op in decode_ops(sc, sequences=sequences, context=context):
        kind = "elementwise" if op.kind == "norm" else op.kind
        parts[kind] = parts[kind] + op_time_s(op, eff, links)[0]
    tau = _kernel_overhead_s()
    return DecodeStep(
        weights_s=layers * parts["gemm"],
        kv_s=layers * parts["attention"],
        elementwise_s=layers * parts["elementwise"],
        tp_comm_s=layers * parts["collective"],
        overhead_s=layers * KERNELS_PER_LAYER * tau + eff.step_overhead_s,
        logits_s=_logits_step_s(sc, eff, sequences),
    )


@dataclass(frozen=True)
class ServingMemory:
    """Bytes per GPU of one replica (pipeline stages share the layers evenly); `capacity` is the share of
    the GPU's memory the engine may use (`memory_utilisation`)."""

    weights: float
    kv_cache: float
    activations: float
    other: float
    capacity: float

    @property
    def total(self) -> float:
        return self.weights + self.kv_cache + self.activations + self.other

    @property
    def fits(self) -> bool:
        return self.total <= self.capacity


def kv_bytes_per_sequence(sc: InferenceScenario, context: float) -> float:
    """KV bytes of one sequence on one GPU: decoder self-attention over `context` tokens (K and V of the
    local heads, or MLA's latent, kvcache.cache_elements_per_token), plus an encoder-decoder's
    cross-attention K/V over the prompt. Pipeline stages hold their share of the layers."""
    model, p = sc.model, sc.parallelism
    per_token = kv_bytes_per_token(model, bytes_per_element=sc.kv_bytes, tp=p.tp) / p.pp
    cross = sc.inference.prompt_tokens.high if model.architecture == "encoder-decoder" else 0.0
    return float(per_token * (context + cross))


def activation_bytes_per_sequence(sc: InferenceScenario, prompt: float) -> float:
    """Peak temporaries of a prefill, per sequence: one layer's hidden states, FFN inner and attention
    outputs in flight (no s×s matrix with FlashAttention), and the fp32 logits of the last position."""
    model, t = sc.model, sc.parallelism.tp
    per_token = (
        4 * model.d_model
        + 2 * (model.d_ff_expert if model.is_moe else model.d_ff) / t
        + 3 * model.n_heads * model.d_head / t
    )
    scores = 0.0 if sc.flash_attention else model.n_heads / t * prompt
    return float(sc.act_bytes * prompt * (per_token + scores) + 4 * model.vocab_size / t)


def serving_memory(sc: InferenceScenario, *, batch: int, context: float, prompt: float) -> ServingMemory:
    """Weights (even split over tp·pp), the batch's KV cache at `context` tokens, and the temporaries of
    one request's prefill at a time (continuous batching admits requests one by one)."""
    p = sc.parallelism
    weights = count_params(sc.model).total * sc.weight_bytes / (p.tp * p.pp)
    sequences = batch * sc.inference.hypotheses
    return ServingMemory(
        weights=float(weights),
        kv_cache=sequences * kv_bytes_per_sequence(sc, context),
        activations=sc.inference.hypotheses * activation_bytes_per_sequence(sc, prompt),
        other=sc.framework_overhead_bytes,
        capacity=sc.hardware.memory_bytes * sc.memory_utilisation,
    )


def max_batch(sc: InferenceScenario, *, context: float, prompt: float) -> int:
    """Largest batch (requests) whose KV cache fits beside the weights and one prefill; 0 if none does."""
    base = serving_memory(sc, batch=0, context=context, prompt=prompt)
    per_request = sc.inference.hypotheses * kv_bytes_per_sequence(sc, context)
    free = base.capacity - base.total
    return max(int(free // per_request), 0) if per_request > 0 else 0


def max_context(sc: InferenceScenario, *, batch: int, prompt: float) -> int:
    """Longest context (prompt + output tokens) that fits at `batch` requests."""
    mem = serving_memory(sc, batch=batch, context=0.0, prompt=prompt)
    per_token = batch * sc.inference.hypotheses * kv_bytes_per_sequence(sc, 1.0)
    return max(int((mem.capacity - mem.total) // per_token), 0) if per_token > 0 else 0
