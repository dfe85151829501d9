"""Activation memory: the bytes a layer keeps for backward, term by term, and pipeline in-flight counts.

Ref: Korthikanti et al. 2022, "Reducing Activation Recomputation in Large Transformer Models", Sec. 4
and Table 2 (34·s·b·h + 5·a·s²·b bytes per GPT layer with 16-bit activations and 1-byte dropout masks),
generalised here to grouped-query attention, gated FFNs, any d_ff, dropout off, FlashAttention
(Dao et al. 2022: no s×s matrix is stored, only a logsumexp per row) and cross-attention.
What each term is, and which operation saves it, is named; tests hold the sum to Table 2 and the
calibration tests to the bytes real PyTorch layers save.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from estimator.num import Num, minimum
from estimator.specs.model import ModelSpec

# Tensors an FFN keeps for backward, in units of tokens × d_ff: gelu: its input and the fc2 input;
# relu: its output, which is also the fc2 input; gated (SwiGLU/GeGLU): gate and up outputs, the
# activation's output (an operand of the product) and the product (the fc2 input).
FFN_SAVED_WIDTHS = {"gelu": 2, "relu": 1, "swiglu": 4, "geglu": 4}
RmsNormKind = Literal["fused", "hf-llama", "hf-t5"]


@dataclass(frozen=True)
class Kernels:
    """How an implementation's kernels keep tensors for backward.

    `FUSED` is the accounting of Korthikanti et al. 2022 (Megatron-LM's fused GPU kernels: 1-byte
    dropout masks, norms keep their input only); it is what estimates use. The eager variants are what
    PyTorch and Hugging Face code keep on the CPU, measured with saved-tensor hooks (tests/calibration):
    `mask_bytes` None means a dropout mask as wide as the activation (CPU dropout multiplies by a
    scaled noise tensor of the input's dtype); `layernorm_stats` keeps mean and rstd per token;
    `rmsnorm` "hf-llama" keeps an fp32 copy of the input and the normalised tensor, "hf-t5" also the
    input itself; `softmax_fp32` keeps an fp32 softmax and the cast copy the ·V matmul reads;
    `repeat_kv` expands grouped K/V to every head before the matmuls; `packed_qkv` keeps V as a view of
    torch.nn.MultiheadAttention's packed in-projection; `attention_core_fp32` runs the attention core of
    16-bit inputs in fp32 (PyTorch's CPU math SDPA), keeping fp32 copies of Q, K, V and the s×s tensors;
    `moe` "hf-eager" keeps each routed copy's input, output and weighted output. (Eager attention also
    keeps its 0-dim float64 scale, 8 bytes, which saved-tensor hooks do not see; it is left out.)
    """

    name: str
    mask_bytes: float | None = 1.0
    layernorm_stats: bool = False
    rmsnorm: RmsNormKind = "fused"
    softmax_fp32: bool = False
    repeat_kv: bool = False
    packed_qkv: bool = False
    moe: Literal["fused", "hf-eager"] = "fused"
    attention_core_fp32: bool = False
    sdpa_saves_bias: bool = False


FUSED = Kernels("fused (Korthikanti et al. 2022; Megatron-LM)")
TORCH_NN_EAGER = Kernels(
    "torch.nn eager (CPU)", mask_bytes=None, layernorm_stats=True, packed_qkv=True, attention_core_fp32=True
)
HF_EAGER = Kernels("transformers eager, GPT-2/BERT (CPU)", mask_bytes=None, layernorm_stats=True)
HF_T5_EAGER = Kernels("transformers eager, T5 (CPU)", mask_bytes=None, rmsnorm="hf-t5", sdpa_saves_bias=True)
HF_LLAMA_EAGER = Kernels(
    "transformers eager, Llama/Mixtral (CPU)",
    mask_bytes=None,
    rmsnorm="hf-llama",
    softmax_fp32=True,
    repeat_kv=True,
    moe="hf-eager",
)


@dataclass(frozen=True)
class ActShape:
    """Where one layer's activations live: a micro-batch of `batch` sequences, `q_len` local tokens each.

    `kv_len` is the attended length (s for self-attention, the whole sequence even under context
    parallelism; the encoder length for cross-attention). Fields may be numpy arrays (the planner).
    """

    batch: Num
    q_len: Num
    kv_len: Num
    tp: Num = 1
    sp: Num = 0
    act_bytes: Num = 2
    flash: bool = False
    kernels: Kernels = FUSED

    @property
    def tokens(self) -> Num:
        return self.batch * self.q_len

    @property
    def outside_tp(self) -> Num:
        """1/tp with sequence parallelism (the tensor is split), else 1 (replicated on every tp rank)."""
        return 1 / (self.sp * self.tp + (1 - self.sp))

    @property
    def mask_bytes(self) -> Num:
        return self.act_bytes if self.kernels.mask_bytes is None else self.kernels.mask_bytes


def norm_terms(model: ModelSpec, shape: ActShape) -> dict[str, Num]:
    """What one norm keeps: its input (LayerNorm, fused RMSNorm), plus the eager extras of `Kernels`."""
    x, k = shape, shape.kernels
    elems = x.tokens * model.d_model * x.outside_tp
    if model.norm == "layernorm" or k.rmsnorm == "fused":
        stats = 2 * x.act_bytes * x.tokens if (k.layernorm_stats and model.norm == "layernorm") else 0.0
        return {"norm_input": x.act_bytes * elems, "norm_stats": stats}
    out = {
        "norm_input_fp32": 4.0 * elems,
        "norm_normalized": x.act_bytes * elems,
        "norm_rsqrt": 4.0 * x.tokens,
    }
    if k.rmsnorm == "hf-t5":  # multiplies the un-upcast input by the fp32 rsqrt: keeps it too
        out["norm_input"] = 0.0 if x.act_bytes == 4 else x.act_bytes * elems
    return out


def attention_block_terms(model: ModelSpec, shape: ActShape, *, cross: bool = False) -> dict[str, Num]:
    """Bytes the (self- or cross-) attention block of one layer saves for one micro-batch on one GPU.

    Tensors inside the tensor-parallel region are divided by tp; the rest only with sequence parallelism.
    Self-attention keeps K and V for its local tokens; cross-attention for the encoder tokens.
    """
    if model.is_mla and not cross:
        return _mla_terms(model, shape)
    x, k = shape, shape.kernels
    dropout = model.dropout > 0
    kv_tokens = x.batch * x.kv_len if cross else x.tokens
    # eager repeat_kv copies K and V to every head (the matmul cannot flatten the expanded view) except
    # for one KV head and one sequence, where the view flattens; fused kernels take grouped K/V directly
    copies_kv = (
        k.repeat_kv
        and not x.flash
        and model.n_kv_heads < model.n_heads
        and (model.n_kv_heads > 1 or x.batch > 1)
    )
    kv_heads = model.n_heads if copies_kv else model.n_kv_heads
    scores = 0 if x.flash else model.n_heads * x.tokens * x.kv_len  # a·s·s·b elements
    upcast = k.attention_core_fp32 and x.act_bytes != 4 and not x.flash
    core = 4 if upcast else x.act_bytes  # width of Q, K, V and the s×s tensors inside the attention core
    core_mask = core if k.mask_bytes is None else k.mask_bytes
    terms = dict(norm_terms(model, x))
    terms.update(
        {
            "qkv_input": x.act_bytes * x.tokens * model.d_model * x.outside_tp,
            "q": core * x.tokens * model.n_heads * model.d_head / x.tp,
            "k": core * kv_tokens * model.n_kv_heads * model.d_head / x.tp,
            "v": core * kv_tokens * model.n_kv_heads * model.d_head / x.tp,
            "kv_repeat": 2 * core * kv_tokens * (kv_heads - model.n_kv_heads) * model.d_head / x.tp,
            "softmax_output": (4 if k.softmax_fp32 else core) * scores / x.tp,
            "softmax_cast": x.act_bytes * scores / x.tp
            if (k.softmax_fp32 and not dropout and x.act_bytes != 4)
            else 0.0,
            "attention_dropout_mask": core_mask * scores / x.tp if dropout else 0.0,
            "attention_dropout_output": core * scores / x.tp if dropout else 0.0,
            "flash_logsumexp": (4.0 * model.n_heads * x.tokens / x.tp) if x.flash else 0.0,
            "out_proj_input": x.act_bytes * x.tokens * model.n_heads * model.d_head / x.tp,
            "attention_output_dropout_mask": x.mask_bytes * x.tokens * model.d_model * x.outside_tp
            if dropout
            else 0.0,
            "attention_bias": x.act_bytes * model.n_heads * x.q_len * x.kv_len / x.tp
            if (k.sdpa_saves_bias and x.flash)
            else 0.0,
        }
    )
    if (
        k.packed_qkv and not upcast
    ):  # V is a view of the packed in-projection (Q|K|V, or K|V for cross-attention)
        packed = (2 * model.n_kv_heads + (0 if cross else model.n_heads)) * model.d_head
        terms["v"] = x.act_bytes * kv_tokens * packed / x.tp
        if x.flash:  # the flash kernel saves Q and K as views of the same packed storage: no copies
            terms["k"] = 0.0
            terms["q"] = x.act_bytes * x.tokens * model.n_heads * model.d_head / x.tp if cross else 0.0
    return terms


def _mla_terms(model: ModelSpec, shape: ActShape) -> dict[str, Num]:
    """Multi-head latent attention (DeepSeek-V2 Sec. 2.1): the norm output feeds the query and key-value
    down-projections (replicated over tp); each latent is normalised and kept for its up-projection; the
    attention core keeps Q and K (nope + rope parts) and V per head, as multi-head attention does."""
    x, k = shape, shape.kernels
    dropout = model.dropout > 0
    heads = model.n_heads / x.tp
    scores = 0 if x.flash else model.n_heads * x.tokens * x.kv_len
    core_mask = x.act_bytes if k.mask_bytes is None else k.mask_bytes
    q_rank, kv_rank = model.q_lora_rank or 0, model.kv_lora_rank or 0
    terms = dict(norm_terms(model, x))
    terms.update(
        {
            "qkv_input": x.act_bytes * x.tokens * model.d_model * x.outside_tp,
            "q_latent": 2
            * x.act_bytes
            * x.tokens
            * q_rank,  # the q norm's input and the up-projection's input
            "kv_latent": 2 * x.act_bytes * x.tokens * kv_rank,
            "q": x.act_bytes * x.tokens * heads * model.qk_head_dim,
            "k": x.act_bytes * x.tokens * heads * model.qk_head_dim,
            "v": x.act_bytes * x.tokens * heads * model.value_head_dim,
            "softmax_output": x.act_bytes * scores / x.tp,
            "attention_dropout_mask": core_mask * scores / x.tp if dropout else 0.0,
            "attention_dropout_output": x.act_bytes * scores / x.tp if dropout else 0.0,
            "flash_logsumexp": (4.0 * heads * x.tokens) if x.flash else 0.0,
            "out_proj_input": x.act_bytes * x.tokens * heads * model.value_head_dim,
            "attention_output_dropout_mask": x.mask_bytes * x.tokens * model.d_model * x.outside_tp
            if dropout
            else 0.0,
        }
    )
    return terms


def _ffn_inner(model: ModelSpec, shape: ActShape, d_ff: Num, copies: Num) -> dict[str, Num]:
    x = shape
    widths = FFN_SAVED_WIDTHS[model.ffn]
    unit = copies * x.act_bytes * x.tokens * d_ff / x.tp
    if not model.ffn_dropout or model.dropout == 0:
        if model.gated_ffn:  # the gated product is fc2's input: kept apart so it can be recomputed
            return {"ffn_inner": (widths - 1) * unit, "ffn_act_output": unit}
        return {"ffn_inner": widths * unit}
    # dropout between activation and fc2 (T5): fc2 reads the dropout output; the activation's output
    # is kept only where its own backward needs it (ReLU keeps its result)
    kept = widths - (0 if model.ffn == "relu" else 1)
    return {
        "ffn_inner": kept * unit,
        "ffn_inner_dropout_mask": unit / x.act_bytes * x.mask_bytes,
        "ffn_inner_dropout_output": unit,
    }


def ffn_block_terms(model: ModelSpec, shape: ActShape, *, moe: bool | None = None) -> dict[str, Num]:
    """Bytes the FFN (or MoE) block of one layer saves for one micro-batch on one GPU.

    An MoE layer (`moe`, default: the model's) keeps the FFN tensors for each of a token's top_k experts and
    its shared experts, the dispatched copies of its input, and fp32 router probabilities; "hf-eager" MoE
    also each copy's output, its weighted output, its routing weight and index, and the router's top-k
    indices and normalisation.
    """
    x = shape
    moe = model.is_moe if moe is None else moe
    terms = dict(norm_terms(model, x))
    terms["fc1_input"] = x.act_bytes * x.tokens * model.d_model * x.outside_tp
    if moe:
        inner = _ffn_inner(model, x, model.d_ff_expert, model.top_k)
        shared = _ffn_inner(model, x, model.shared_ffn_width, 1) if model.shared_ffn_width else {}
        terms.update({key: value + shared.get(key, 0.0) for key, value in inner.items()})
    else:
        terms.update(_ffn_inner(model, x, model.d_ff, 1))
    terms["ffn_output_dropout_mask"] = (
        x.mask_bytes * x.tokens * model.d_model * x.outside_tp if model.dropout > 0 else 0.0
    )
    if moe:
        copies = model.top_k
        h_copies = x.act_bytes * x.tokens * copies * model.d_model / x.tp
        terms["router_probs"] = 4.0 * x.tokens * model.n_experts
        if x.kernels.moe == "hf-eager":
            terms["expert_input_copies"] = h_copies
            terms["expert_outputs"] = 2 * h_copies
            # fp32 routing weight, and the int64 (token, slot) pair torch.where returns for each copy
            terms["routing_weights_and_indices"] = x.tokens * copies * (4.0 + 16.0)
            terms["router_topk"] = x.tokens * (8.0 * model.top_k + 4.0 * model.top_k + 4.0)
        else:
            terms["expert_input_copies"] = h_copies
    return terms


SELECTIVE_DROPS = (
    "softmax_output",
    "softmax_cast",
    "attention_dropout_mask",
    "attention_dropout_output",
    "kv_repeat",
)


def korthikanti_table2_bytes(*, s: Num, b: Num, h: Num, a: Num, t: Num, sp: Num, selective: Num) -> Num:
    """Korthikanti et al. 2022, Table 2, activation bytes per layer (16-bit, 1-byte masks). Cross-check only.

    TP: s·b·h·(10 + 24/t + 5·a·s/(h·t)); TP+SP: s·b·h·(34/t + 5·a·s/(h·t)); selective drops the a·s term.
    """
    attn = (1 - selective) * 5 * a * s / (h * t)
    return s * b * h * ((1 - sp) * (10 + 24 / t) + sp * 34 / t + attn)


def inflight_chunks(*, schedule: str, pp: Num, micro_batches: Num, virtual_stages: Num, rank: Num) -> Num:
    """Micro-batch × model-chunk activations a pipeline rank holds at its peak.

    1F1B: min(p − rank, m) (Narayanan et al. 2021 Sec. 2.2.1); interleaved: the warm-up of Megatron-LM's
    interleaved schedule, 2·(p − rank − 1) + (v − 1)·p + 1 chunks of L/(p·v) layers, which for rank 0 is
    Korthikanti et al.'s L·(1 + (p − 1)/(p·v)) layers; GPipe: all m micro-batches; DualPipe: p + 1 on every
    rank (DeepSeek-V3 Table 2).
    """
    if schedule == "gpipe":
        return micro_batches
    if schedule == "dualpipe":
        return minimum(pp + 1, micro_batches)
    if schedule == "interleaved":
        warm = 2 * (pp - rank - 1) + (virtual_stages - 1) * pp + 1
        return minimum(warm, virtual_stages * micro_batches)
    return minimum(pp - rank, micro_batches)
