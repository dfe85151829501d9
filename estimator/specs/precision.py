"""Numeric precision policies, low-precision recipes and optimizers: bytes per parameter, per state and per
activation, and which matmuls run narrow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from estimator.specs.hardware import ComputeDtype

PrecisionName = Literal["fp32", "fp16-mixed", "bf16-mixed", "bf16", "fp8-mixed", "fp4-mixed"]
OptimizerName = Literal[
    "adam", "adamw", "adamw-bf16", "sgd", "adafactor", "adam-8bit", "lamb", "lion", "muon"
]
RecipeName = Literal["delayed", "current", "blockwise", "mxfp8", "nvfp4", "mxfp4"]


@dataclass(frozen=True)
class PrecisionPolicy:
    """How a precision mode stores weights, gradients, optimizer states and activations.

    `master_weight_bytes` is the fp32 copy that mixed precision keeps beside the 16-bit weights
    (Micikevicius et al. 2018, "Mixed Precision Training"; ZeRO counts it with the optimizer states).
    Low-precision modes (fp8, fp4) run the layers' weight GEMMs narrow; the attention core, the output
    layer, MoE routers and norms stay in 16 bits (DeepSeek-V3 Sec. 3.3.1; NVIDIA Transformer Engine).
    """

    name: PrecisionName
    compute_dtype: ComputeDtype
    weight_bytes: float
    grad_bytes: float
    master_weight_bytes: float
    optimizer_state_bytes: float
    activation_bytes: float
    note: str
    default_recipe: RecipeName | None = None

    @property
    def low_precision(self) -> bool:
        return self.compute_dtype in ("fp8", "fp4")


@dataclass(frozen=True)
class Recipe:
    """A low-precision scaling recipe: bytes per element of the narrow GEMM operands (scales included) and
    the passes over a 16-bit tensor its cast takes (1: the scale is known before the cast — delayed scaling,
    or computed per tile inside the cast kernel; 2: a separate amax reduction first — current/dynamic
    tensor-wise scaling). `narrow_saved`: the GEMM inputs kept for backward are the narrow copies the
    forward made (DeepSeek-V3 Sec. 3.3.3 caches them in FP8), not 16-bit tensors."""

    name: RecipeName
    element_bytes: float
    cast_passes: float
    note: str
    narrow_saved: bool = False


RECIPES: dict[str, Recipe] = {
    "delayed": Recipe(
        "delayed",
        1.0,
        1.0,
        "FP8 with delayed tensor-wise scaling: the scale from an amax history "
        "(Transformer Engine's default recipe)",
    ),
    "current": Recipe(
        "current",
        1.0,
        2.0,
        "FP8 with current (dynamic) tensor-wise scaling: an amax pass then the "
        "cast (torchao Float8Linear's default)",
    ),
    "blockwise": Recipe(
        "blockwise",
        1.0 + 4 / 128,
        1.0,
        "FP8 with 1×128 activation and 128×128 weight tiles, "
        "an fp32 scale each, computed in the cast (DeepSeek-V3 Sec. 3.3.2)",
        narrow_saved=True,
    ),
    "mxfp8": Recipe(
        "mxfp8", 1.0 + 1 / 32, 1.0, "MXFP8: one e8m0 scale per 32 elements (OCP MX spec; Blackwell)"
    ),
    "nvfp4": Recipe(
        "nvfp4",
        0.5 + 1 / 16,
        1.0,
        "NVFP4: 4-bit E2M1 with one FP8 scale per 16 elements and a tensor scale (NVIDIA Blackwell)",
    ),
    "mxfp4": Recipe(
        "mxfp4", 0.5 + 1 / 32, 1.0, "MXFP4: 4-bit E2M1 with one e8m0 scale per 32 elements (OCP MX)"
    ),
}

PRECISIONS: dict[str, PrecisionPolicy] = {
    "fp32": PrecisionPolicy(
        "fp32",
        "fp32",
        4,
        4,
        0,
        4,
        4,
        "fp32 weights, grads, states, activations; fp32 matmul peak (TF32 off, PyTorch's default)",
    ),
    "fp16-mixed": PrecisionPolicy(
        "fp16-mixed",
        "fp16",
        2,
        2,
        4,
        4,
        2,
        "fp16 weights/grads/activations, fp32 master weights and Adam states (ZeRO's 2+2+12 bytes/param)",
    ),
    "bf16-mixed": PrecisionPolicy(
        "bf16-mixed",
        "bf16",
        2,
        2,
        4,
        4,
        2,
        "bf16 weights/grads/activations, fp32 master weights and Adam states (ZeRO's 2+2+12 bytes/param)",
    ),
    "bf16": PrecisionPolicy(
        "bf16",
        "bf16",
        2,
        2,
        0,
        2,
        2,
        "pure bf16: weights, grads and optimizer states all bf16, no fp32 master copy",
    ),
    "fp8-mixed": PrecisionPolicy(
        "fp8-mixed",
        "fp8",
        2,
        2,
        4,
        4,
        2,
        "fp8 weight GEMMs (Transformer Engine style) on bf16 weights with fp32 master weights and states; "
        "the "
        "attention core, output layer and routers in bf16; activations kept at 2 bytes",
        default_recipe="delayed",
    ),
    "fp4-mixed": PrecisionPolicy(
        "fp4-mixed",
        "fp4",
        2,
        2,
        4,
        4,
        2,
        "fp4 (NVFP4) weight GEMMs on bf16 weights with fp32 master weights and states (NVIDIA 2025, "
        "'Pretraining LLMs with NVFP4'); attention, output layer and routers in bf16",
        default_recipe="nvfp4",
    ),
}


@dataclass(frozen=True)
class OptimizerPolicy:
    """How many state tensors an optimizer keeps per parameter and at what width, and the matmul FLOPs its
    update takes per parameter of an m×n matrix (`update_flops_per_param`: Muon's Newton–Schulz)."""

    name: OptimizerName
    states: float
    bytes_per_state: float | None  # None: the precision policy's optimizer_state_bytes
    note: str
    newton_schulz_steps: int = 0


OPTIMIZERS: dict[str, OptimizerPolicy] = {
    "adam": OptimizerPolicy("adam", 2, None, "Kingma & Ba 2015: first and second moments"),
    "adamw": OptimizerPolicy("adamw", 2, None, "Loshchilov & Hutter 2019: same states as Adam"),
    "adamw-bf16": OptimizerPolicy(
        "adamw-bf16",
        2,
        2.0,
        "AdamW with its two moments stored in bf16, master weights in fp32 (DeepSeek-V3 Sec. 3.3.3)",
    ),
    "sgd": OptimizerPolicy("sgd", 1, None, "SGD with momentum: one momentum buffer"),
    "adafactor": OptimizerPolicy(
        "adafactor",
        0,
        None,
        "Shazeer & Stern 2018 with beta1=0 (T5's setting): factored second moments are O(rows+cols), "
        "under 0.1% of the parameters for d_model >= 1024, counted as zero",
    ),
    "adam-8bit": OptimizerPolicy(
        "adam-8bit",
        2,
        1 + 4 / 2048,
        "Dettmers et al. 2022 (bitsandbytes): 1-byte block-wise quantised moments plus one fp32 scale per "
        "2048-element block",
    ),
    "lamb": OptimizerPolicy(
        "lamb", 2, None, "You et al. 2020: Adam's two moments plus a per-layer trust ratio"
    ),
    "lion": OptimizerPolicy("lion", 1, None, "Chen et al. 2023: one momentum buffer, sign updates"),
    "muon": OptimizerPolicy(
        "muon",
        1,
        None,
        "Jordan et al. 2024 (Muon): one momentum buffer per matrix, orthogonalised by 5 Newton–Schulz "
        "iterations (each 4·m²·n + 2·m³ FLOPs for an m×n matrix, m ≤ n); AdamW for embeddings and norms",
        newton_schulz_steps=5,
    ),
}


def optimizer_bytes_per_param(precision: PrecisionPolicy, optimizer: OptimizerPolicy) -> float:
    """Bytes of optimizer state per parameter, master weights included (ZeRO's K)."""
    per_state = (
        optimizer.bytes_per_state
        if optimizer.bytes_per_state is not None
        else precision.optimizer_state_bytes
    )
    return optimizer.states * per_state + precision.master_weight_bytes
