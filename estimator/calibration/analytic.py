"""The analytic model's predictions for a reference case: the ledger's own ops (estimator.ledger), evaluated
for the case's model, input size and kernels. Nothing here restates a formula: FLOPs, the backward rule
and the bytes kept for backward are the ledger's, which is what the comparison with real layers tests."""

from __future__ import annotations

from dataclasses import replace

from estimator.calibration.reference import TORCH_FAMILIES, ReferenceCase
from estimator.ledger.account import executed_flops, over_stage, params_by_group, saved_bytes
from estimator.ledger.account import forward_matmul_flops as ops_forward_flops
from estimator.ledger.layers import layer_ops
from estimator.ledger.model import SampleShape, StageOps, sample_ops
from estimator.ledger.ops import Op
from estimator.ledger.work import Work
from estimator.params import count_params, norm_params


def uses_flash(case: ReferenceCase, attn: str = "eager") -> bool:
    """Whether PyTorch runs the flash kernel: torch.nn layers and transformers' "sdpa" do, on the CPU,
    when there is no attention dropout (the CPU flash kernel has none); transformers' "eager" never."""
    return case.model.dropout == 0 and (case.family in TORCH_FAMILIES or attn == "sdpa")


def _work(case: ReferenceCase, act_bytes: float = 4.0, attn: str = "eager") -> Work:
    """The case's input as ledger work: full attention (the reference layers get no causal mask, and the
    HF models' eager path computes the whole score matrix), the family's kernels."""
    return Work(
        batch=case.batch,
        q_len=case.seq_len,
        kv_len=case.seq_len,
        act_bytes=act_bytes,
        flash=uses_flash(case, attn),
        causal_fraction=1.0,
        kernels=case.kernels,
    )


def case_ledger(case: ReferenceCase, attn: str = "eager") -> StageOps:
    """Every op of the reference module for the case's whole batch."""
    model, b, s, d = case.model, case.batch, case.seq_len, case.dec_len
    w = _work(case, attn=attn)
    if case.family == "torch-encoder-layer":
        return StageOps(layers=((model.n_layers, tuple(layer_ops(model, w))),), extras=())
    if case.family == "torch-decoder-layer":
        return StageOps(layers=((model.n_layers, tuple(layer_ops(model, w, cross_kv_len=d))),), extras=())
    if case.family == "torch-transformer":
        dec = w.with_(q_len=d, kv_len=d)
        return StageOps(
            layers=(
                (model.n_layers, tuple(layer_ops(model, w))),
                (model.n_decoder_layers, tuple(layer_ops(model, dec, cross_kv_len=s))),
            ),
            extras=(),
        )
    if case.family == "t5":
        shape = SampleShape(encoder_tokens=s, decoder_tokens=d, logit_positions=float(d))
    else:
        shape = SampleShape(
            encoder_tokens=s,
            decoder_tokens=0,
            logit_positions=float(s),
            nsp_sequences=1.0 if model.nsp_head else 0.0,
        )
    one = sample_ops(model, shape, causal_fraction=1.0, base=w)

    def batched(ops: tuple[Op, ...]) -> tuple[Op, ...]:
        return tuple(replace(op, count=op.count * b) for op in ops)

    return StageOps(
        layers=tuple((n, batched(ops)) for n, ops in one.layers),
        extras=tuple((f, batched(ops)) for f, ops in one.extras),
    )


def params(case: ReferenceCase) -> float:
    """Parameters of the whole reference module."""
    if case.family in TORCH_FAMILIES:
        groups = params_by_group(case_ledger(case))
        finals = 2 * norm_params(
            d_model=case.model.d_model, rms=False, bias=True
        )  # nn.Transformer's two final norms
        return float(sum(groups.values()) + (finals if case.family == "torch-transformer" else 0.0))
    return count_params(case.model).total


def forward_matmul_flops(case: ReferenceCase) -> float:
    """Matmul FLOPs of one forward pass over the case's batch (2 per multiply-add)."""
    return float(over_stage(case_ledger(case), ops_forward_flops))


def training_matmul_flops(case: ReferenceCase) -> float:
    """Forward plus backward matmul FLOPs as the kernels execute them, by the ledger's backward rules (the
    flash kernel's recomputed QKᵀ included)."""
    return float(over_stage(case_ledger(case), executed_flops))


def layer_saved_bytes(case: ReferenceCase, act_bytes: int, recompute: str, attn: str = "eager") -> float:
    """Bytes one layer keeps for backward, by the ledger's saved terms with the family's kernels."""
    model, d = case.model, case.dec_len
    cross = case.family in ("torch-decoder-layer", "torch-transformer")  # measured on a decoder layer
    w = _work(case, act_bytes, attn)
    ops = layer_ops(model, w, cross_kv_len=d if cross else 0)
    memory_input = act_bytes * case.batch * d * model.d_model if cross else 0.0  # the encoder output K/V read
    return float(saved_bytes(ops, recompute)) + memory_input
