"""FLOPs, 2 per multiply-add, per component: forward, backward, recomputation; model vs hardware.

Ref: Kaplan et al. 2020 Sec. 2.1 (per-token forward ≈ 2N + 2·L·s·d_attn); Narayanan et al. 2021 Eq. 3;
Korthikanti et al. 2022 Eq. 7–8 and Appendix A; Chowdhery et al. 2022 (PaLM) App. B. Only matrix
multiplies count towards model and hardware FLOPs, as in all of these; norms are listed apart. The ledger
(estimator.ledger) applies these per op; the closed forms here are cross-checks, not a second count.
"""

from __future__ import annotations

from estimator.num import Num


def linear_flops(*, tokens: Num, d_in: Num, d_out: Num) -> Num:
    """2·tokens·d_in·d_out: one multiply and one add per weight per token (Scaling Book, "Counting Dots")."""
    return 2 * tokens * d_in * d_out


def attention_matmul_flops(
    *, q_tokens: Num, kv_tokens: Num, n_heads: Num, d_head: Num, causal_fraction: Num
) -> Num:
    """One of the two attention-core matmuls, QKᵀ or softmax·V: 2·q·kv·a·d × the counted fraction.

    `causal_fraction` is 1 to count the whole score matrix (Narayanan et al. 2021; PaLM App. B) or 0.5
    to count only the causal triangle (newer Megatron-LM); it is a counting convention.
    """
    return 2 * q_tokens * kv_tokens * n_heads * d_head * causal_fraction


def norm_flops(*, tokens: Num, d_model: Num, rms: Num) -> Num:
    """Element-wise work of one norm: 5 per element with affine LayerNorm, 4 for RMSNorm, as fvcore's
    `norm_flop_counter` counts them (fvcore/nn/jit_handles.py). Not part of model FLOPs."""
    return tokens * d_model * (5 - rms)


def training_flops_6nd(*, params: Num, tokens: Num) -> Num:
    """6·N·D (Kaplan et al. 2020 Sec. 2.1; GPT-3 App. D). A cross-check, not the estimator's count."""
    return 6 * params * tokens


def megatron_flops_eq3(*, batch: Num, seq_len: Num, n_layers: Num, d_model: Num, vocab_size: Num) -> Num:
    """F = 96·B·s·l·h²·(1 + s/(6h) + V/(16·l·h)) per iteration with full recompute (Narayanan et al. 2021,
    Eq. 3)."""
    h = d_model
    return 96 * batch * seq_len * n_layers * h**2 * (1 + seq_len / (6 * h) + vocab_size / (16 * n_layers * h))


def korthikanti_model_flops_eq7(
    *, batch: Num, seq_len: Num, n_layers: Num, d_model: Num, vocab_size: Num
) -> Num:
    """Model FLOPs 72·B·L·s·h²·(1 + s/(6h) + V/(12·h·L)) (Korthikanti et al. 2022, Eq. 7)."""
    h = d_model
    return 72 * batch * n_layers * seq_len * h**2 * (1 + seq_len / (6 * h) + vocab_size / (12 * h * n_layers))


def korthikanti_selective_flops_eq8(
    *, batch: Num, seq_len: Num, n_layers: Num, d_model: Num, vocab_size: Num
) -> Num:
    """Hardware FLOPs with selective recompute, 72·B·L·s·h²·(1 + s/(3h) + V/(12·h·L)) (Eq. 8).

    Eq. 8 adds s/(6h), i.e. three times the attention core's forward FLOPs; one recomputed forward
    adds only s/(18h). The estimator counts the one forward it actually recomputes.
    """
    h = d_model
    return 72 * batch * n_layers * seq_len * h**2 * (1 + seq_len / (3 * h) + vocab_size / (12 * h * n_layers))


def t5_span_corruption_lengths(inputs_length: int, noise_density: float, mean_span: float) -> tuple[int, int]:
    """Raw tokens and target length for T5 span corruption so that the input is `inputs_length` long.

    Ref: Raffel et al. 2020 Sec. 3.1.4; the `random_spans_helper` of the T5 code (each noise span becomes
    one sentinel in the input and one in the target, plus one EOS each). 512, 0.15, 3 → (568, 114).
    T5's helper steps one raw token at a time; the input length it tracks is non-decreasing in the raw
    length (each extra token adds 0 or 1 input tokens), so a bisection finds the same largest raw length.
    """

    def lengths(tokens: int) -> tuple[int, int]:
        noise = int(round(tokens * noise_density))
        spans = int(round(noise / mean_span))
        return tokens - noise + spans + 1, noise + spans + 1

    lo = inputs_length - 1  # lengths(lo)[0] <= inputs_length always holds
    hi = lo + 1
    while lengths(hi)[0] <= inputs_length:  # doubling: about log2(1 / (1 − density)) steps
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if lengths(mid)[0] <= inputs_length else (lo, mid)
    return lo, lengths(lo)[1]
