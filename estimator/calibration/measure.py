"""Measurements of real modules: parameters, fvcore FLOPs, FlopCounterMode FLOPs, bytes saved for backward."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.utils.flop_counter import (
    FlopCounterMode,
    register_flop_formula,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

MATMUL_OPS = frozenset(
    {
        "addmm",
        "linear",
        "matmul",
        "bmm",
        "mm",
        "einsum",
        "baddbmm",
        "scaled_dot_product_attention",
        "_grouped_mm",
    }
)
NORM_OPS = frozenset({"layer_norm", "group_norm", "batch_norm", "instance_norm"})
# Ops the reference models call that are not matrix multiplies: 0 FLOPs in the model-FLOPs convention
# (PaLM App. B, Narayanan et al. 2021). Registered so that fvcore's unsupported_ops() is empty.
ZERO_FLOP_OPS = (
    "aten::add",
    "aten::add_",
    "aten::sub",
    "aten::rsub",
    "aten::mul",
    "aten::mul_",
    "aten::div",
    "aten::neg",
    "aten::pow",
    "aten::rsqrt",
    "aten::sqrt",
    "aten::mean",
    "aten::tanh",
    "aten::gelu",
    "aten::relu",
    "aten::silu",
    "aten::softmax",
    "aten::_safe_softmax",
    "aten::dropout",
    "aten::native_dropout",
    "aten::embedding",
    "aten::cumsum",
    "aten::diff",
    "aten::ne",
    "aten::le",
    "aten::lt",
    "aten::gt",
    "aten::ge",
    "aten::eq",
    "aten::where",
    "aten::new_ones",
    "aten::ones",
    "aten::zeros",
    "aten::zeros_like",
    "aten::ones_like",
    "aten::full",
    "aten::full_like",
    "aten::arange",
    "aten::masked_fill",
    "aten::masked_fill_",
    "aten::abs",
    "aten::log",
    "aten::min",
    "aten::max",
    "aten::minimum",
    "aten::maximum",
    "aten::topk",
    "aten::one_hot",
    "aten::index_add_",
    "aten::index_select",
    "aten::nonzero",
    "aten::sum",
    "aten::cat",
    "aten::sin",
    "aten::cos",
    "aten::type_as",
    "aten::floor_divide",
    "aten::bitwise_or",
    "aten::bitwise_and",
    "aten::bitwise_not",
    "aten::__and__",
    "aten::__or__",
    "aten::any",
    "aten::all",
    "aten::clamp",
    "aten::argmax",
    "aten::scatter",
    "aten::expand_as",
    "aten::fill_",
    "aten::index",
    "aten::__getitem__",
    "aten::sigmoid",
    "aten::erf",
    "aten::_to_copy",
    "aten::copy_",
    "aten::tril",
    "aten::triu",
    "aten::reciprocal",
    "aten::square",
    "aten::logical_not",
    "aten::logical_and",
    "aten::logical_or",
    "aten::split_with_sizes",
    "aten::repeat_interleave",
    "aten::where_",
    "aten::clone",
    "aten::scatter_add_",
    "aten::gather",
    "aten::max_pool2d",
    "aten::exp",
    "aten::mul_scalar",
    "aten::div_",
    "aten::bernoulli_",
    "aten::empty_like",
    "aten::sort",
    "aten::bincount",
    "aten::histc",
    "aten::std",
    "aten::var",
    "aten::amax",
    "aten::log_softmax",
    "aten::unflatten",
)


def _zero_handle(inputs: Any, outputs: Any) -> int:
    return 0


def _sdpa_handle(inputs: Any, outputs: Any) -> int:
    """fvcore handle for aten::scaled_dot_product_attention, in multiply-adds (fvcore's unit): QKᵀ and P·V."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(x) for x in inputs[:3])
    batch = 1
    for dim in q[:-2]:
        batch *= dim
    return int(batch * q[-2] * k[-2] * (q[-1] + v[-1]))


def _baddbmm_handle(inputs: Any, outputs: Any) -> int:
    """fvcore handle for aten::baddbmm(input, b1, b2): b·n·m·p multiply-adds, as fvcore counts bmm."""
    from fvcore.nn.jit_handles import get_shape

    b1, b2 = get_shape(inputs[1]), get_shape(inputs[2])
    return int(b1[0] * b1[1] * b1[2] * b2[2])


def _grouped_mm_handle(inputs: Any, outputs: Any) -> int:
    """fvcore handle for aten::_grouped_mm(A (M, K), B (G, K, N), offs): every row of A meets one group's
    K×N matrix, M·K·N multiply-adds (the fused MoE expert GEMM of transformers' grouped_mm experts)."""
    from fvcore.nn.jit_handles import get_shape

    a, b = get_shape(inputs[0]), get_shape(inputs[1])
    return int(a[0] * a[1] * b[-1])


def fvcore_forward(module: Any, inputs: tuple[Any, ...]) -> tuple[float, float, dict[str, int]]:
    """Forward (matmul FLOPs, norm FLOPs, unsupported ops) by fvcore, converted to 2 FLOPs per multiply-add
    for matmuls (fvcore counts one); norms stay in fvcore's own per-element count."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.*")
        from fvcore.nn import FlopCountAnalysis

    handles: dict[str, Callable[[Any, Any], int]] = dict.fromkeys(ZERO_FLOP_OPS, _zero_handle)
    handles.update(
        {
            "aten::scaled_dot_product_attention": _sdpa_handle,
            "aten::baddbmm": _baddbmm_handle,
            "aten::_grouped_mm": _grouped_mm_handle,
        }
    )
    analysis = FlopCountAnalysis(module, inputs).set_op_handle(**handles)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    analysis.tracer_warnings("none")
    by_op = analysis.by_operator()
    unknown = set(by_op) - MATMUL_OPS - NORM_OPS
    if unknown:
        raise RuntimeError(
            f"fvcore counted FLOPs for ops this comparison does not classify: {sorted(unknown)}"
        )
    matmul = 2.0 * sum(v for k, v in by_op.items() if k in MATMUL_OPS)
    norms = float(sum(v for k, v in by_op.items() if k in NORM_OPS))
    return matmul, norms, dict(analysis.unsupported_ops())


def _register_formulas() -> None:
    """FlopCounterMode has no formula for the CPU flash kernel of scaled_dot_product_attention, nor for
    the grouped GEMM of fused MoE experts (forward and its backward, which is grouped GEMMs too)."""
    from torch.utils.flop_counter import flop_registry

    aten = torch.ops.aten
    if aten._grouped_mm.default not in flop_registry and aten._grouped_mm not in flop_registry:

        @register_flop_formula(aten._grouped_mm)
        def _gmm(mat_a: Any, mat_b: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
            if len(mat_a) == 2 and len(mat_b) == 3:  # (M, K) × (G, K, N)
                return int(2 * mat_a[0] * mat_a[1] * mat_b[2])
            if (
                len(mat_a) == 2 and len(mat_b) == 2
            ):  # (K, M)ᵀ-style weight-gradient form: (N?, M) × (M, K) per group
                return int(2 * mat_a[0] * mat_a[1] * mat_b[1])
            return int(2 * mat_a[0] * mat_a[1] * mat_a[2] * mat_b[-1])

    fwd, bwd = (
        aten._scaled_dot_product_flash_attention_for_cpu,
        aten._scaled_dot_product_flash_attention_for_cpu_backward,
    )
    if fwd.default not in flop_registry and fwd not in flop_registry:

        @register_flop_formula(fwd)
        def _fwd(query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
            return int(sdpa_flop_count(query, key, value))  # type: ignore[no-untyped-call]

    if bwd.default not in flop_registry and bwd not in flop_registry:

        @register_flop_formula(bwd)
        def _bwd(
            grad_out: Any, query: Any, key: Any, value: Any, *args: Any, out_shape: Any = None, **kwargs: Any
        ) -> int:
            return int(sdpa_backward_flop_count(grad_out, query, key, value))  # type: ignore[no-untyped-call]


def flopcounter_training(module: Any, inputs: tuple[Any, ...]) -> float:
    """FLOPs of one forward and backward by torch.utils.flop_counter (2 per multiply-add, matmuls only)."""
    _register_formulas()
    counter = FlopCounterMode(display=False)
    with counter:
        out = module(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        sum(o.float().sum() for o in outs).backward()
    return float(counter.get_total_flops())


def saved_bytes(fn: Callable[[], Any], exclude: Iterable[Any]) -> tuple[int, Counter[str]]:
    """Bytes of the tensors autograd saves while `fn` runs, one count per storage, leaving out the storages
    of `exclude` (parameters and auxiliary inputs). Also a count of bytes by dtype, for the record."""
    excluded = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}
    by_dtype: Counter[str] = Counter()

    def pack(t: Any) -> Any:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in excluded and ptr not in seen:
            seen[ptr] = storage.nbytes()
            by_dtype[str(t.dtype).removeprefix("torch.")] += storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values()), by_dtype
