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
from typing import Any

from estimator.specs.model import ModelSpec

Num = Any

# tensors a PyTorch-eager FFN keeps for backward, in units of tokens × d_ff:
#   gelu: GELU input + fc2 input; relu: its output doubles as fc2 input; gated: gate and up outputs,
#   the activation's output (an input of the product) and the product (fc2 input).
FFN_SAVED_WIDTHS = {"gelu": 2, "relu": 1, "swiglu": 4, "geglu": 4}


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

    @property
    def tokens(self) -> Num:
        return self.batch * self.q_len

    @property
    def outside_tp(self) -> Num:
        """1/tp with sequence parallelism (the tensor is split), else 1 (replicated on every tp rank)."""
        return 1 / (self.sp * self.tp + (1 - self.sp))


def attention_block_terms(model: ModelSpec, shape: ActShape, *, cross: bool = False) -> dict[str, Num]:
    """Bytes the (self- or cross-) attention block of one layer saves for one micro-batch on one GPU.

    Tensors inside the tensor-parallel region are divided by tp; the rest only with sequence parallelism.
    Self-attention keeps K and V for its local tokens; cross-attention for the encoder tokens.
    """
    m, x = model, shape
    mask = 1.0 if m.dropout > 0 else 0.0  # one byte per element (Korthikanti et al.; bool masks)
    kv_tokens = x.batch * x.kv_len if cross else x.tokens
    scores = 0 if x.flash else m.n_heads * x.tokens * x.kv_len  # a·s·s·b elements
    return {
        "norm_input": x.act_bytes * x.tokens * m.d_model * x.outside_tp,
        "qkv_input": x.act_bytes * x.tokens * m.d_model * x.outside_tp,
        "q_and_k": x.act_bytes * (x.tokens * m.n_heads + kv_tokens * m.n_kv_heads) * m.d_head / x.tp,
        "v": x.act_bytes * kv_tokens * m.n_kv_heads * m.d_head / x.tp,
        "softmax_output": x.act_bytes * scores / x.tp,
        "attention_dropout_mask": mask * scores / x.tp,
        "attention_dropout_output": mask * x.act_bytes * scores / x.tp,
        "flash_logsumexp": (4.0 * m.n_heads * x.tokens / x.tp) if x.flash else 0.0,
        "out_proj_input": x.act_bytes * x.tokens * m.n_heads * m.d_head / x.tp,
        "attention_output_dropout_mask": mask * x.tokens * m.d_model * x.outside_tp,
    }


def ffn_block_terms(model: ModelSpec, shape: ActShape) -> dict[str, Num]:
    """Bytes the FFN (or MoE) block of one layer saves for one micro-batch on one GPU.

    An MoE layer keeps the FFN tensors for each of a token's top_k (+ shared) experts, the dispatched
    copies of its input, and fp32 router probabilities.
    """
    m, x = model, shape
    mask = 1.0 if m.dropout > 0 else 0.0
    copies = (m.top_k + m.n_shared_experts) if m.is_moe else 1
    d_ff = m.d_ff_expert if m.is_moe else m.d_ff
    return {
        "norm_input": x.act_bytes * x.tokens * m.d_model * x.outside_tp,
        "fc1_input": x.act_bytes * x.tokens * m.d_model * (x.outside_tp if not m.is_moe else copies / x.tp),
        "ffn_inner": copies * FFN_SAVED_WIDTHS[m.ffn] * x.act_bytes * x.tokens * d_ff / x.tp,
        "router_probs": (4.0 * x.tokens * m.n_experts) if m.is_moe else 0.0,
        "ffn_output_dropout_mask": mask * x.tokens * m.d_model * x.outside_tp,
    }


def layer_activation_terms(model: ModelSpec, shape: ActShape, *, cross_kv_len: Num = 0) -> dict[str, Num]:
    """All terms of one layer (self-attention, cross-attention when `cross_kv_len` > 0, FFN), by block.

    For a decoder layer of an encoder-decoder the cross-attention's K/V input (the encoder output) is
    shared by all decoder layers and counted once per micro-batch elsewhere, so its `qkv_input` here is
    the decoder-side query input only.
    """
    terms = {f"attn.{k}": v for k, v in attention_block_terms(model, shape).items()}
    if cross_kv_len:
        cross_shape = ActShape(shape.batch, shape.q_len, cross_kv_len, shape.tp, shape.sp, shape.act_bytes, shape.flash)
        terms.update({f"cross.{k}": v for k, v in attention_block_terms(model, cross_shape, cross=True).items()})
    terms.update({f"ffn.{k}": v for k, v in ffn_block_terms(model, shape).items()})
    return terms


SELECTIVE_DROPS = ("softmax_output", "attention_dropout_mask", "attention_dropout_output")


def stored_layer_bytes(terms: dict[str, Num], *, recompute: str, layer_input_bytes: Num) -> Num:
    """What one layer keeps between its forward and backward under a recompute policy.

    none: every term; selective: every term but the attention core's s×s tensors (Korthikanti Sec. 5);
    full: only the layer's input (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost").
    """
    if recompute == "full":
        return layer_input_bytes
    if recompute == "selective":
        return sum(v for k, v in terms.items() if k.rsplit(".", 1)[-1] not in SELECTIVE_DROPS)
    return sum(terms.values())


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
    Korthikanti et al.'s L·(1 + (p − 1)/(p·v)) layers; GPipe: all m micro-batches.
    """
    if schedule == "gpipe":
        return micro_batches
    if schedule == "interleaved":
        warm = 2 * (pp - rank - 1) + (virtual_stages - 1) * pp + 1
        return min(warm, virtual_stages * micro_batches)
    return min(pp - rank, micro_batches)
