"""Numeric precision policies and optimizers: bytes per parameter, per state and per activation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from estimator.specs.hardware import ComputeDtype

PrecisionName = Literal["fp32", "fp16-mixed", "bf16-mixed", "bf16", "fp8-mixed"]
OptimizerName = Literal["adam", "adamw", "sgd", "adafactor", "adam-8bit"]


@dataclass(frozen=True)
class PrecisionPolicy:
    """How a precision mode stores weights, gradients, optimizer states and activations.

    `master_weight_bytes` is the fp32 copy that mixed precision keeps beside the 16-bit weights
    (Micikevicius et al. 2018, "Mixed Precision Training"; ZeRO counts it with the optimizer states).
    """

    name: PrecisionName
    compute_dtype: ComputeDtype
    weight_bytes: float
    grad_bytes: float
    master_weight_bytes: float
    optimizer_state_bytes: float
    activation_bytes: float
    note: str


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
        "fp8 matmuls (Transformer Engine style) on bf16 weights with fp32 master weights and states; "
        "activations kept at 2 bytes (conservative)",
    ),
}


@dataclass(frozen=True)
class OptimizerPolicy:
    """How many state tensors an optimizer keeps per parameter and at what width."""

    name: OptimizerName
    states: float
    bytes_per_state: float | None  # None: the precision policy's optimizer_state_bytes
    note: str


OPTIMIZERS: dict[str, OptimizerPolicy] = {
    "adam": OptimizerPolicy("adam", 2, None, "Kingma & Ba 2015: first and second moments"),
    "adamw": OptimizerPolicy("adamw", 2, None, "Loshchilov & Hutter 2019: same states as Adam"),
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
}


def optimizer_bytes_per_param(precision: PrecisionPolicy, optimizer: OptimizerPolicy) -> float:
    """Bytes of optimizer state per parameter, master weights included (ZeRO's K)."""
    per_state = (
        optimizer.bytes_per_state
        if optimizer.bytes_per_state is not None
        else precision.optimizer_state_bytes
    )
    return optimizer.states * per_state + precision.master_weight_bytes
