"""What one training sample looks like for an objective: token counts, predicted positions, convention."""

from __future__ import annotations

from estimator.flops import SequenceShape, t5_span_corruption_lengths
from estimator.specs.scenario import Scenario


def executed_causal_fraction(flash: bool) -> float:
    """The share of a causal s×s score matrix the attention kernel computes: a fused kernel skips the
    blocks above the diagonal (FlashAttention-2, Dao 2023 Sec. 3.1: about half), the unfused Megatron path
    (scale-mask-softmax) computes all of it and masks. The one place this is decided: FLOPs, time, MFU and
    HFU all use it."""
    return 0.5 if flash else 1.0


def counted_causal_fraction(sc: Scenario) -> float:
    """The causal fraction FLOP counts use: `training.causal_attention_flops` when given ("full" as
    Narayanan et al. 2021 and PaLM count, "half" as newer Megatron-LM), else what the kernel executes."""
    convention = sc.training.causal_attention_flops
    if convention is None:
        return executed_causal_fraction(sc.training.flash_attention)
    return 1.0 if convention == "full" else 0.5


def sequence_shape(sc: Scenario, *, executed: bool = False) -> SequenceShape:
    """Token counts of one sample of `sc`'s objective.

    causal-lm: every position predicts the next token. masked-lm / mlm-nsp: logits for all positions
    (Hugging Face BERT) or only the masked fraction when `gather_masked_logits` (Megatron-BERT); NSP adds
    the pooler and classifier once per sequence. span-corruption (T5, Raffel et al. 2020 Sec. 3.1.4):
    the decoder reads and predicts the target of `t5_span_corruption_lengths`, unless
    `decoder_seq_len` is given. `executed`: count causal attention as the kernel runs it (for MFU and HFU)
    rather than by the counting convention.
    """
    t, m = sc.training, sc.model
    frac = executed_causal_fraction(t.flash_attention) if executed else counted_causal_fraction(sc)
    objective = sc.objective
    if m.architecture == "encoder-decoder":
        if t.decoder_seq_len is not None:
            dec = t.decoder_seq_len
        elif objective == "span-corruption":
            dec = t5_span_corruption_lengths(t.seq_len, t.noise_density, t.mean_noise_span_length)[1]
        else:
            dec = t.seq_len
        return SequenceShape(encoder_tokens=t.seq_len, decoder_tokens=dec, logit_positions=float(dec), causal_fraction=frac)
    if objective in ("masked-lm", "mlm-nsp"):
        positions = t.seq_len * (t.mlm_probability if t.gather_masked_logits else 1.0)
        return SequenceShape(encoder_tokens=t.seq_len, decoder_tokens=0, logit_positions=positions,
                             causal_fraction=1.0, sequences_with_nsp=1.0 if objective == "mlm-nsp" else 0.0)
    return SequenceShape(encoder_tokens=t.seq_len, decoder_tokens=0, logit_positions=float(t.seq_len), causal_fraction=frac)
