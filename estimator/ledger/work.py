"""What a layer computes, on one GPU, for one micro-batch: the input of every op function of the ledger."""

from __future__ import annotations

from dataclasses import dataclass

from estimator.activations import FUSED, ActShape, Kernels
from estimator.num import Flag, Num
from estimator.specs.workload import FinetuneSpec


@dataclass(frozen=True)
class Work:
    """A micro-batch of `batch` sequences with `q_len` local tokens each, attending to `kv_len` tokens.

    Layout fields (tp, cp, ep, sp, pp) may be numpy arrays (the planner's columns). `causal_fraction` is
    the share of a causal score matrix that is computed (the kernel's, for time; the counting convention's,
    for reported FLOPs); encoder layers and cross-attention are never causal. `weight_bytes` and
    `kv_bytes` are what a GEMM reads per weight and attention per cached K/V element (serving quantisation);
    None means the activation width. `finetune`: a frozen base with adapters (LoRA, QLoRA).
    """

    batch: Num
    q_len: Num
    kv_len: Num
    tp: Num = 1
    cp: Num = 1
    ep: Num = 1
    sp: Flag = 0
    pp: Num = 1
    act_bytes: float = 2.0
    weight_bytes: float | None = None
    kv_bytes: float | None = None
    flash: bool = False
    causal_fraction: float = 1.0
    kernels: Kernels = FUSED
    finetune: FinetuneSpec | None = None
    cast_passes: float = 0.0  # reads of a 16-bit GEMM input per fp8/fp4 cast (0: no narrow GEMMs)
    narrow_bytes: float = 1.0  # bytes per element of a narrow GEMM operand, scales included
    narrow_saved: bool = False  # GEMM inputs kept for backward in the narrow format (DeepSeek-V3)
    attention_kernel: str = ""  # the fused attention kernel (flash2, cudnn, flash3; "" the default)

    @property
    def tokens(self) -> Num:
        """Local tokens of the micro-batch: b·s/c."""
        return self.batch * self.q_len

    @property
    def outside_tp(self) -> Num:
        """1/t with sequence parallelism (the tensor is split), else 1 (replicated on every tp rank)."""
        return 1 / (self.sp * self.tp + (1 - self.sp))

    @property
    def wbytes(self) -> float:
        return self.act_bytes if self.weight_bytes is None else self.weight_bytes

    @property
    def kvbytes(self) -> float:
        return self.act_bytes if self.kv_bytes is None else self.kv_bytes

    @property
    def frozen(self) -> bool:
        return self.finetune is not None and self.finetune.frozen_base

    def act_shape(self, kv_len: Num | None = None) -> ActShape:
        """The activation-memory shape of activations.py for this work (optionally another kv length)."""
        return ActShape(
            self.batch,
            self.q_len,
            self.kv_len if kv_len is None else kv_len,
            self.tp,
            self.sp,
            self.act_bytes,
            self.flash,
            self.kernels,
        )

    def with_(self, **changes: object) -> Work:
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]
