"""The per-operation ledger's row: one kernel (or collective) of a layer, on one GPU, for one micro-batch.

Every number the estimator shows derives from these rows: parameters, model and hardware FLOPs, the bytes
kept for backward under each recomputation policy, the roofline time of each op, the communication on the
critical path, MFU and HFU. Fields may be numpy arrays (the planner's columns) as well as floats.

`BACKWARD` is the one place where what backward does relative to forward is written, per op class:
  gemm         dgrad + wgrad: two GEMMs of the forward's size (Shoeybi et al. 2019; Narayanan et al. 2021
               Sec. 3.5: backward = 2 × forward)
  frozen_gemm  dgrad only: a frozen weight (LoRA/QLoRA base, Hu et al. 2021) needs no weight gradient
  attn_gemm    the unfused QKᵀ and P·V batched GEMMs: gradients w.r.t. both operands (2 ×)
  flash        one fused kernel that recomputes S = QKᵀ, then dP, dS, dQ, dK, dV: 5 matmuls of the forward's
               2, 2.5 × its FLOPs, reading and writing twice its bytes (Dao et al. 2022, Alg. 4); model FLOPs
               count 2 × (the recomputed QKᵀ is hardware FLOPs only)
  softmax      reads the output and its gradient, writes one gradient: 1.5 × the forward's bytes
  elementwise  reads the saved input and the gradient, writes the gradient: 2 × the forward's bytes
  collective   the conjugate collective of the same volume (Megatron's f/g operators: an all-reduce in
               forward is the identity in backward and vice versa, Shoeybi et al. 2019 Fig. 3)
  ring         ring attention's backward sends K and V and their gradients: twice the forward's bytes
  once         done again once, as in forward (QLoRA re-dequantises the frozen weight for dgrad)
  none         nothing in backward
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from estimator.num import Num

OpKind = Literal["gemm", "attention", "elementwise", "norm", "collective"]
Backward = Literal[
    "gemm",
    "frozen_gemm",
    "attn_gemm",
    "flash",
    "softmax",
    "elementwise",
    "collective",
    "ring",
    "once",
    "none",
]
Group = Literal["tp", "cp", "ep", "pp", "dp"]
Collective = Literal["all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv", "ring"]
ParamGroup = Literal[
    "",
    "attention",
    "ffn",
    "experts",
    "router",
    "norms",
    "embedding",
    "position",
    "output_head",
    "pooler",
    "nsp_head",
    "adapters",
    "mtp",
]


@dataclass(frozen=True)
class BackwardRule:
    """What backward does for one op class: `kernels` kernels, each of `flop_scale` × the forward's FLOPs
    and `byte_scale` × its bytes; `model_factor` × the forward's FLOPs count as model FLOPs."""

    kernels: float
    flop_scale: float
    byte_scale: float
    model_factor: float

    @property
    def executed_factor(self) -> float:
        """Backward FLOPs the hardware executes, as a multiple of the forward's."""
        return self.kernels * self.flop_scale


BACKWARD: dict[Backward, BackwardRule] = {
    "gemm": BackwardRule(kernels=2, flop_scale=1.0, byte_scale=1.0, model_factor=2.0),
    "frozen_gemm": BackwardRule(kernels=1, flop_scale=1.0, byte_scale=1.0, model_factor=1.0),
    "attn_gemm": BackwardRule(kernels=2, flop_scale=1.0, byte_scale=1.0, model_factor=2.0),
    "flash": BackwardRule(kernels=1, flop_scale=2.5, byte_scale=2.0, model_factor=2.0),
    "softmax": BackwardRule(kernels=1, flop_scale=0.0, byte_scale=1.5, model_factor=0.0),
    "elementwise": BackwardRule(kernels=1, flop_scale=0.0, byte_scale=2.0, model_factor=0.0),
    "collective": BackwardRule(kernels=1, flop_scale=0.0, byte_scale=1.0, model_factor=0.0),
    "ring": BackwardRule(kernels=1, flop_scale=0.0, byte_scale=2.0, model_factor=0.0),
    "once": BackwardRule(kernels=1, flop_scale=0.0, byte_scale=1.0, model_factor=0.0),
    "none": BackwardRule(kernels=0, flop_scale=0.0, byte_scale=0.0, model_factor=0.0),
}


@dataclass(frozen=True)
class Op:
    """One kernel or collective of one layer on one GPU for one micro-batch.

    `flops` and `bytes` are per kernel (`count` identical kernels run, e.g. one per local expert); for a
    collective `bytes` is the payload per rank. `matmul` ops count towards model FLOPs (the PaLM App. B
    convention: matmuls only). `saved_terms` are the tensors kept for backward (activations.py names each);
    `selective_drop` the ones selective recomputation does not keep; `saved_full` what full recomputation
    keeps (the layer's input checkpoint, on the layer's first op). `params` are the weights the op owns in
    the whole model and `params_local` those on this GPU; `params_active` those one token uses.
    """

    name: str
    kind: OpKind
    backward: Backward
    flops: Num = 0.0
    bytes: Num = 0.0
    count: Num = 1.0
    matmul: bool = False
    saved_terms: Mapping[str, Num] = field(default_factory=dict)
    selective_drop: tuple[str, ...] = ()
    saved_full: Num = 0.0
    selective_recompute: bool = False
    params: Num = 0.0
    params_local: Num = 0.0
    params_active: Num | None = None
    param_group: ParamGroup = ""
    collective: Collective | None = None
    group: Group | None = None
    group_size: Num = 1
    hidden_behind: str | None = None  # a collective overlapped with this op's compute (ring attention)
    routing: tuple[float, int | None] | None = None  # MoE all-to-all: (copies per token, node limit)
    kernel: str = ""  # the fused attention implementation (efficiency_defaults.yaml attention_kernels)
    grouped: bool = False  # the `count` kernels run as one grouped GEMM (MoE experts): one kernel's latency
    useful: float = 1.0  # share of the FLOPs that are model FLOPs (experts padded to capacity compute more)
    high_precision: bool = False  # stays in 16 bits under an fp8/fp4 recipe (output layer, router, heads)
    cast_bytes: Num = (
        0.0  # HBM bytes of the kernels casting its 16-bit input to fp8/fp4 (and its gradient back)
    )

    @property
    def rule(self) -> BackwardRule:
        return BACKWARD[self.backward]

    @property
    def forward_flops(self) -> Num:
        return self.flops * self.count

    @property
    def backward_flops(self) -> Num:
        """FLOPs backward executes for this op (the flash kernel's recomputed QKᵀ included)."""
        return self.flops * self.count * self.rule.executed_factor

    @property
    def model_flops(self) -> Num:
        """Forward plus backward model FLOPs (matmuls only; recomputation excluded)."""
        return self.flops * self.count * self.useful * (1.0 + self.rule.model_factor) if self.matmul else 0.0

    @property
    def executed_flops(self) -> Num:
        """Forward plus backward FLOPs the kernels execute, without activation recomputation."""
        return self.forward_flops + self.backward_flops

    @property
    def saved(self) -> Num:
        """Bytes kept for backward with no recomputation."""
        return sum_values(self.saved_terms.values())

    @property
    def saved_selective(self) -> Num:
        """Bytes kept for backward under selective recomputation."""
        return sum_values(v for k, v in self.saved_terms.items() if k not in self.selective_drop)

    @property
    def active(self) -> Num:
        return self.params if self.params_active is None else self.params_active


def sum_values(values: object) -> Num:
    """Sum of an iterable of numbers or equal-shaped arrays (0.0 when empty)."""
    total: Num = 0.0
    for v in values:  # type: ignore[attr-defined]
        total = total + v
    return total
