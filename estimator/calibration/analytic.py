"""The analytic model's predictions for a reference case, computed with the estimator's own formulas."""

from __future__ import annotations

from estimator.activations import ActShape, layer_activation_terms, stored_layer_bytes
from estimator.calibration.reference import TORCH_FAMILIES, ReferenceCase
from estimator.flops import (
    SequenceShape,
    attention_matmul_flops,
    cross_attention_flops,
    forward_flops,
    matmul_sum,
    self_layer_flops,
)
from estimator.params import count_params, layer_params, norm_params


def params(case: ReferenceCase) -> float:
    """Parameters of the whole reference module."""
    m = case.model
    if case.family == "torch-encoder-layer":
        return float(m.n_layers * layer_params(m).total)
    if case.family == "torch-decoder-layer":
        return float(m.n_layers * layer_params(m, cross_attention=True).total)
    if case.family == "torch-transformer":  # encoder and decoder stacks, each with a final LayerNorm
        return float(m.n_layers * layer_params(m).total + m.n_decoder_layers * layer_params(m, cross_attention=True).total
                     + 2 * norm_params(d_model=m.d_model, rms=False, bias=True))
    return count_params(m).total


def uses_flash(case: ReferenceCase, attn: str = "eager") -> bool:
    """Whether PyTorch runs the flash kernel: torch.nn layers and transformers' "sdpa" do, on the CPU,
    when there is no attention dropout (the CPU flash kernel has none); transformers' "eager" never."""
    return case.model.dropout == 0 and (case.family in TORCH_FAMILIES or attn == "sdpa")


def _attention_score_flops(case: ReferenceCase) -> float:
    """Forward QKᵀ FLOPs of the whole case (what a flash backward recomputes)."""
    m, b, s, d = case.model, case.batch, case.seq_len, case.dec_len

    def one(q: int, k: int) -> float:
        return float(attention_matmul_flops(q_tokens=q, kv_tokens=k, n_heads=m.n_heads, d_head=m.d_head, causal_fraction=1.0))

    if case.family == "torch-encoder-layer":
        return b * m.n_layers * one(s, s)
    if case.family == "torch-decoder-layer":
        return b * m.n_layers * (one(s, s) + one(s, d))
    if case.family == "torch-transformer":
        return b * (m.n_layers * one(s, s) + m.n_decoder_layers * (one(d, d) + one(d, s)))
    return 0.0  # HF families are counted with eager attention


def forward_matmul_flops(case: ReferenceCase) -> float:
    """Matmul FLOPs of one forward pass over the case's batch (2 per multiply-add)."""
    m, b, s, d = case.model, case.batch, case.seq_len, case.dec_len
    if case.family == "torch-encoder-layer":
        return b * m.n_layers * matmul_sum(self_layer_flops(m, s, 1.0))
    if case.family == "torch-decoder-layer":
        return b * m.n_layers * (matmul_sum(self_layer_flops(m, s, 1.0)) + matmul_sum(cross_attention_flops(m, s, d)))
    if case.family == "torch-transformer":
        return b * (m.n_layers * matmul_sum(self_layer_flops(m, s, 1.0))
                    + m.n_decoder_layers * (matmul_sum(self_layer_flops(m, d, 1.0)) + matmul_sum(cross_attention_flops(m, d, s))))
    if case.family == "t5":
        shape = SequenceShape(encoder_tokens=s, decoder_tokens=d, logit_positions=float(d), causal_fraction=1.0)
    else:
        shape = SequenceShape(encoder_tokens=s, decoder_tokens=0, logit_positions=float(s), causal_fraction=1.0,
                              sequences_with_nsp=1.0 if m.nsp_head else 0.0)
    return b * forward_flops(m, shape).matmul


def training_matmul_flops(case: ReferenceCase) -> float:
    """Forward plus backward (2 × forward) matmul FLOPs, plus the QKᵀ a flash backward recomputes."""
    return 3 * forward_matmul_flops(case) + (_attention_score_flops(case) if uses_flash(case) else 0.0)


def layer_saved_bytes(case: ReferenceCase, act_bytes: int, recompute: str, attn: str = "eager") -> float:
    """Bytes one layer keeps for backward, by the estimator's activation terms with the family's kernels."""
    m, b, s = case.model, case.batch, case.seq_len
    flash = uses_flash(case, attn)
    cross = case.family in ("torch-decoder-layer", "torch-transformer")  # measured on a decoder layer
    shape = ActShape(b, s, s, 1, 0, act_bytes, flash, case.kernels)
    terms = layer_activation_terms(m, shape, cross_kv_len=case.dec_len if cross else 0)
    layer_input = act_bytes * b * s * m.d_model
    memory_input = act_bytes * b * case.dec_len * m.d_model if cross else 0.0  # the encoder output K/V read
    return float(stored_layer_bytes(terms, recompute=recompute, layer_input_bytes=layer_input)) + memory_input
