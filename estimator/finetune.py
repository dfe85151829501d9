"""Fine-tuning: LoRA adapter parameters and FLOPs, and the frozen base's storage.

Ref: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models" (a rank-r update B·A of each
adapted d_in×d_out weight: r·(d_in + d_out) parameters, two extra thin matmuls); Dettmers et al. 2023,
"QLoRA" (4-bit NormalFloat base, block size 64, double quantisation of the block constants: 0.127 bits
per parameter, Sec. 3).
"""

from __future__ import annotations

from estimator.num import Num
from estimator.specs.model import ModelSpec
from estimator.specs.workload import FinetuneSpec

NF4_BYTES_PER_PARAM = 0.5 + 0.127 / 8  # 4-bit weights + double-quantised constants (QLoRA Sec. 3)
DEQUANT_BYTES_PER_PARAM = NF4_BYTES_PER_PARAM + 2.0  # read the 4-bit weight, write its 16-bit copy


def lora_params(*, d_in: Num, d_out: Num, rank: Num) -> Num:
    """r·(d_in + d_out): the A (d_in×r) and B (r×d_out) factors of one adapted matrix (Hu et al. 2021)."""
    return rank * (d_in + d_out)


def adapted_matrices(model: ModelSpec, targets: str, moe: bool | None = None) -> list[tuple[int, int, int]]:
    """(d_in, d_out, copies) of each adapted matrix in one layer (copies: experts of an MoE FFN)."""
    q, kv = model.n_heads * model.d_head, model.n_kv_heads * model.d_head
    if targets == "qv":
        return [(model.d_model, q, 1), (model.d_model, kv, 1)]
    out = [(model.d_model, q, 1), (model.d_model, kv, 1), (model.d_model, kv, 1), (q, model.d_model, 1)]
    if targets == "all-linear":
        moe = model.is_moe if moe is None else moe
        gates = 2 if model.gated_ffn else 1
        widths = [(model.d_ff_expert, model.n_experts)] if moe else [(model.d_ff, 1)]
        if moe and model.shared_ffn_width:
            widths.append((model.shared_ffn_width, 1))
        for d_ff, copies in widths:
            out += [(model.d_model, d_ff, copies)] * gates + [(d_ff, model.d_model, copies)]
    return out


def lora_trainable_params(model: ModelSpec, ft: FinetuneSpec) -> float:
    """Trainable adapter parameters of the whole model: the ledger's adapter ops (PEFT's count)."""
    from estimator.ledger.account import params_by_group
    from estimator.ledger.model import SampleShape, sample_ops
    from estimator.ledger.work import Work

    shape = SampleShape(
        encoder_tokens=1.0, decoder_tokens=1.0 if model.n_decoder_layers else 0.0, logit_positions=1.0
    )
    ledger = sample_ops(
        model, shape, causal_fraction=1.0, base=Work(batch=1, q_len=1.0, kv_len=1.0, finetune=ft)
    )
    return float(params_by_group(ledger).get("adapters", 0.0))
