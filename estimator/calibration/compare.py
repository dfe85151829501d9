"""Analytic vs measured, per reference model and configuration: the records `estimator calibrate` prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

from estimator.calibration import analytic
from estimator.calibration.measure import flopcounter_training, fvcore_forward, saved_bytes
from estimator.calibration.reference import (
    HF_FAMILIES,
    ReferenceCase,
    build_layer,
    build_model,
    import_transformers,
    selective_attention,
)

DTYPES = {"fp32": (torch.float32, 4), "bf16": (torch.bfloat16, 2)}


@dataclass(frozen=True)
class Record:
    """One comparison. `rel_error` = (analytic − measured) / measured."""

    model: str
    config: str
    quantity: str
    analytic: float
    measured: float
    rel_error: float
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _record(
    case: ReferenceCase, config: str, quantity: str, analytic_value: float, measured: float, note: str = ""
) -> Record:
    rel = (analytic_value - measured) / measured if measured else float(analytic_value != measured)
    return Record(
        case.family,
        f"{case.config}; b{case.batch} s{case.seq_len}{config}",
        quantity,
        float(analytic_value),
        float(measured),
        rel,
        note,
    )


def flop_records(case: ReferenceCase) -> Iterator[Record]:
    """Parameters, forward matmul FLOPs by fvcore (eager, and sdpa/grouped-GEMM paths), and forward +
    backward FLOPs by torch.utils.flop_counter."""
    module, inputs = build_model(case, device="cpu")
    yield _record(
        case,
        "",
        "params",
        analytic.params(case),
        sum(p.numel() for p in module.parameters()),
        "sum(p.numel()) of the module",
    )
    matmul, _, unsupported = fvcore_forward(module, inputs)
    note = "fvcore, eager attention; unsupported ops: " + (", ".join(sorted(unsupported)) or "none")
    yield _record(case, "", "forward_flops", analytic.forward_matmul_flops(case), matmul, note)
    if case.family in HF_FAMILIES:
        fused, inputs_f = build_model(case, device="cpu", attn="sdpa", experts="grouped_mm")
        matmul_f, _, unsupported_f = fvcore_forward(fused, inputs_f)
        yield _record(
            case,
            "; sdpa",
            "forward_flops",
            analytic.forward_matmul_flops(case),
            matmul_f,
            "fvcore with the scaled_dot_product_attention/_grouped_mm handles; unsupported ops: "
            + (", ".join(sorted(unsupported_f)) or "none"),
        )
    yield _record(
        case,
        "",
        "training_flops",
        analytic.training_matmul_flops(case),
        flopcounter_training(module, inputs),
        "torch.utils.flop_counter.FlopCounterMode, forward + backward"
        + ("; flash kernel (backward recomputes QKᵀ)" if analytic.uses_flash(case) else "; eager attention"),
    )


def _memory_modes(case: ReferenceCase) -> list[tuple[str, str]]:
    """(recompute, attention implementation) pairs measured for a family."""
    modes = [("none", "eager"), ("full", "eager")]
    if case.family in HF_FAMILIES:
        modes.append(("selective", "eager"))
        if (
            case.model.dropout == 0
        ):  # the CPU flash kernel has no dropout: with dropout SDPA falls back to math
            modes.append(("none", "sdpa"))
    return modes


def _measure_layer(case: ReferenceCase, dtype: Any, recompute: str, attn: str) -> int:
    if recompute == "selective":
        import_transformers().AttentionInterface.register("selective_eager", selective_attention(case))
        attn = "selective_eager"
    layer = build_layer(case, dtype, attn)
    run: Callable[[], Any]
    if recompute == "full":
        run = lambda: checkpoint(layer.forward, layer.x, *layer.extra_inputs, use_reentrant=True)  # noqa: E731
    else:
        run = lambda: layer.forward(layer.x, *layer.extra_inputs)  # noqa: E731
    total, _ = saved_bytes(run, layer.exclude)
    return total


def memory_records(case: ReferenceCase, dtypes: tuple[str, ...] = ("fp32", "bf16")) -> Iterator[Record]:
    """Bytes one layer saves for backward (saved-tensor hooks, one count per storage) vs the analytic
    activation terms with the family's kernels, per dtype and recompute mode."""
    for dtype_name in dtypes:
        dtype, act_bytes = DTYPES[dtype_name]
        for recompute, attn in _memory_modes(case):
            measured = _measure_layer(case, dtype, recompute, attn)
            flash = analytic.uses_flash(case, attn)
            config = f"; {dtype_name}; recompute {recompute}" + ("; flash kernel" if flash else "")
            yield _record(
                case,
                config,
                "layer_saved_bytes",
                analytic.layer_saved_bytes(case, act_bytes, recompute, attn),
                measured,
                f"kernels: {case.kernels.name}",
            )


def to_table(records: list[Record]) -> str:
    lines = [f"{'model':<20} {'quantity':<18} {'analytic':>14} {'measured':>14} {'rel_error':>10}  config"]
    for r in records:
        lines.append(
            f"{r.model:<20} {r.quantity:<18} {r.analytic:>14,.0f} {r.measured:>14,.0f} "
            f"{r.rel_error:>+10.2e}  {r.config}"
        )
    worst: dict[str, float] = {}
    for r in records:
        worst[r.model] = max(worst.get(r.model, 0.0), abs(r.rel_error))
    lines.append("")
    lines.append("largest |rel_error| per family: " + ", ".join(f"{k} {v:.2e}" for k, v in worst.items()))
    return "\n".join(lines) + "\n"
