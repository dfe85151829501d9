"""What one training sample looks like for an objective, and the one rule for counting causal attention."""

from __future__ import annotations

from estimator.flops import t5_span_corruption_lengths
from estimator.ledger.model import SampleShape
from estimator.specs.scenario import Scenario


def executed_causal_fraction(flash: bool) -> float:
    """The share of a causal s×s score matrix the attention kernel computes: a fused kernel skips the
    blocks above the diagonal (FlashAttention-2, Dao 2023 Sec. 3.1: about half), the unfused Megatron path
    (scale-mask-softmax) computes all of it and masks. The one place this is decided: FLOPs, time, MFU and
    HFU all use it."""
    return 0.5 if flash else 1.0


def counted_causal_fraction(sc: Scenario) -> float:
    """The causal fraction reported FLOP counts use: `training.causal_attention_flops` when given ("full" as
    Narayanan et al. 2021 and PaLM count, "half" as newer Megatron-LM), else what the kernel executes."""
    convention = sc.training.causal_attention_flops
    if convention is None:
        return executed_causal_fraction(sc.training.flash_attention)
    return 1.0 if convention == "full" else 0.5


def sequence_shape(sc: Scenario) -> SampleShape:
    """Token counts of one sample of `sc`'s objective.

    causal-lm: every position predicts the next token. masked-lm / mlm-nsp: logits for all positions
    (Hugging Face BERT) or only the masked fraction when `gather_masked_logits` (Megatron-BERT); NSP adds
    the pooler and classifier once per sequence. span-corruption (T5, Raffel et al. 2020 Sec. 3.1.4):
    the decoder reads and predicts the target of `t5_span_corruption_lengths`, unless
    `decoder_seq_len` is given.
    """
    training, model = sc.training, sc.model
    objective = sc.objective
    if model.architecture == "encoder-decoder":
        if training.decoder_seq_len is not None:
            dec = training.decoder_seq_len
        elif objective == "span-corruption":
            dec = t5_span_corruption_lengths(
                training.seq_len, training.noise_density, training.mean_noise_span_length
            )[1]
        else:
            dec = training.seq_len
        return SampleShape(
            encoder_tokens=float(training.seq_len), decoder_tokens=float(dec), logit_positions=float(dec)
        )
    if objective in ("masked-lm", "mlm-nsp"):
        positions = training.seq_len * (training.mlm_probability if training.gather_masked_logits else 1.0)
        return SampleShape(
            encoder_tokens=float(training.seq_len),
            decoder_tokens=0.0,
            logit_positions=positions,
            nsp_sequences=1.0 if objective == "mlm-nsp" else 0.0,
        )
    return SampleShape(
        encoder_tokens=float(training.seq_len), decoder_tokens=0.0, logit_positions=float(training.seq_len)
    )
