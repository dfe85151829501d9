"""Per-operation roofline: time = max(FLOPs / (peak · η_compute(F)), bytes / (bandwidth · η_memory)).

Ref: Williams, Waterman, Patterson 2009, "Roofline: An Insightful Visual Performance Model". The compute
efficiency depends on the operation's size, η(F) = η_max · F / (F + F_half): a large GEMM approaches the
measured best-shape efficiency (MAMF), a small one pays a fixed per-kernel cost (F_half = peak · τ).
Efficiencies come from the hardware profile's `calibration` block, else `data/efficiency_defaults.yaml`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from estimator.num import Num, maximum, where
from estimator.specs.hardware import ComputeDtype, FittedCalibration, HardwareSpec
from estimator.textio import read_yaml

_DEFAULTS = Path(__file__).resolve().parent / "data" / "efficiency_defaults.yaml"


def size_efficiency(*, flops: Num, eta_max: Num, half_flops: Num) -> Num:
    """η(F) = η_max · F / (F + F_half) (the saturating curve `estimator calibrate gemm` fits)."""
    return eta_max * flops / (flops + half_flops)


def compute_time_s(*, flops: Num, peak_flops_per_s: Num, eta_max: Num, half_flops: Num) -> Num:
    """F / (peak · η(F)) with η from `size_efficiency`, written as (F + F_half) / (peak · η_max) so that a
    kernel without FLOPs takes no compute time (array-safe)."""
    return (flops + half_flops) / (peak_flops_per_s * eta_max) * (flops > 0)


def roofline_time_s(
    *, compute_s: Num, bytes_moved: Num, bandwidth_bytes_per_s: Num, memory_efficiency: Num
) -> Num:
    """max(compute time, memory time) of one operation (Williams et al. 2009). The only place the
    roofline's max is taken."""
    return maximum(compute_s, bytes_moved / (bandwidth_bytes_per_s * memory_efficiency))


@functools.cache
def efficiency_defaults() -> dict[str, dict[str, Any]]:
    """The documented defaults (value and source of each)."""
    data: dict[str, dict[str, Any]] = read_yaml(_DEFAULTS)
    return data


@dataclass(frozen=True)
class Efficiencies:
    """Resolved efficiencies of one accelerator for one compute dtype, with where each came from."""

    peak_flops_per_s: float
    gemm_max: Num  # arrays only while the calibration fit scores candidates
    gemm_half_flops: float
    attention_max: Num
    attention_half_flops: float
    memory: Num
    memory_bandwidth_bytes_per_s: float
    intra_bandwidth_bytes_per_s: float
    intra_alpha_s: float
    inter_bandwidth_bytes_per_s: float
    inter_alpha_s: float
    sources: dict[str, str]
    high: Efficiencies | None = None  # the 16-bit efficiencies, for the ops an fp8/fp4 recipe keeps in bf16
    step_overhead_s: Num = 0.0  # fixed seconds per optimizer step (the generation's fitted calibration)
    attention_by_kernel: dict[str, Num] = field(default_factory=dict)  # max per fused-attention kernel
    moe_share: Num = 1.0  # grouped expert GEMMs' share of dense GEMM efficiency (serving calibration)
    prefill_overhead_s: Num = 0.0  # fixed cost of a prefill call (serving calibration)
    attention_memory: Num | None = None  # HBM share attention kernels stream at (None: `memory`)

    def compute_scaled(self, k: Num, **changes: Any) -> Efficiencies:
        """These efficiencies with every compute share (GEMM, attention, each fused-attention kernel) times
        `k` and the other fields in `changes` replaced (array-safe: fits score many candidates at once)."""
        return replace(
            self,
            gemm_max=self.gemm_max * k,
            attention_max=self.attention_max * k,
            attention_by_kernel={n: v * k for n, v in self.attention_by_kernel.items()},
            **changes,
        )

    def gemm_time_s(self, flops: Num, bytes_moved: Num) -> Num:
        return self._kernel_time_s(flops, bytes_moved, self.gemm_max, self.gemm_half_flops)

    def attention_time_s(self, flops: Num, bytes_moved: Num, kernel: str = "") -> Num:
        eta = self.attention_by_kernel.get(kernel, self.attention_max)
        memory = self.memory if self.attention_memory is None else self.attention_memory
        return self._kernel_time_s(flops, bytes_moved, eta, self.attention_half_flops, memory)

    def _kernel_time_s(
        self, flops: Num, bytes_moved: Num, eta_max: Num, half_flops: float, memory: Num | None = None
    ) -> Num:
        compute = compute_time_s(
            flops=flops, peak_flops_per_s=self.peak_flops_per_s, eta_max=eta_max, half_flops=half_flops
        )
        return roofline_time_s(
            compute_s=compute,
            bytes_moved=bytes_moved,
            bandwidth_bytes_per_s=self.memory_bandwidth_bytes_per_s,
            memory_efficiency=self.memory if memory is None else memory,
        )

    def link(self, inside: Num) -> tuple[Num, Num]:
        """(α, β) of the link a group uses: the node's fast link inside a node, the network across nodes
        (array-safe in `inside`)."""
        return (
            where(inside, self.intra_alpha_s, self.inter_alpha_s),
            where(inside, self.intra_bandwidth_bytes_per_s, self.inter_bandwidth_bytes_per_s),
        )

    def memory_time_s(self, bytes_moved: Num) -> Num:
        return bytes_moved / (self.memory_bandwidth_bytes_per_s * self.memory)


def resolve_efficiencies(
    hw: HardwareSpec, dtype: ComputeDtype, fitted: FittedCalibration | None | bool = True
) -> Efficiencies:
    """The profile's calibration where it has one, else the documented defaults; for fp8 and fp4 also the
    16-bit efficiencies of the ops that stay in bf16. `fitted`: the generation calibration to apply (True:
    the profile's own, False: none, the documented defaults only)."""
    if fitted is True:
        fitted = hw.calibration.fitted if hw.calibration else None
    fit = fitted or None
    eff = _resolve(hw, dtype, fit)
    if dtype in ("fp8", "fp4"):
        wide: ComputeDtype = "bf16" if hw.peak_flops_per_s.bf16 else "fp16"
        eff = replace(eff, high=_resolve(hw, wide, fit))
    return eff


def sustained_fraction(fitted: FittedCalibration | None, dtype: ComputeDtype) -> tuple[float, str]:
    """The share of the best-shape GEMM throughput a training step sustains: the fit for this precision (the
    profile's own when it has runs, else its generation's), else the other 16-bit format's. A narrow format
    (fp8, fp4) without runs takes the 16-bit share; a 16-bit format without runs the documented default,
    the A100 fit (tuned 16-bit stacks sustain about the same share on the generations fitted: A100 0.82,
    H100 SXM 0.75–0.80; narrow formats sustain less, their recipes cost extra)."""
    value = float(efficiency_defaults()["training_gemm_fraction"]["value"])
    default = value, f"{value} (efficiency_defaults.yaml: fitted once to the A100 public runs)"
    if fitted is None:
        return default
    if dtype in fitted.sustained:
        return fitted.sustained[dtype], f"fitted on {fitted.generation} runs ({fitted.command})"
    for wide in {"fp16": ("bf16",), "bf16": ("fp16",)}.get(dtype, ("bf16", "fp16")):
        if wide in fitted.sustained:
            return fitted.sustained[wide], f"fitted on {fitted.generation} {wide} runs (no {dtype} run)"
    return default


def _resolve(hw: HardwareSpec, dtype: ComputeDtype, fitted: FittedCalibration | None) -> Efficiencies:
    d = efficiency_defaults()
    cal = hw.calibration
    peak = hw.peak(dtype)
    tau = float(d["kernel_overhead_s"]["value"])
    sustained, src_sustained = sustained_fraction(fitted, dtype)
    src: dict[str, str] = {}
    gemm = cal.gemm.get(dtype) if cal else None
    if gemm is None and cal is not None and dtype in ("fp8", "fp4", "int8", "int4"):
        # no measured best-shape fraction for the narrow format: the same silicon's 16-bit one
        gemm = cal.gemm.get("bf16") or cal.gemm.get("fp16")
    if gemm is not None:
        gemm_max, src["gemm"] = gemm.max, f"profile calibration ({cal.command if cal else ''})"
        half = gemm.half_flops if gemm.half_flops is not None else peak * tau
    else:
        gemm_max, half, src["gemm"] = (
            float(d["gemm_max"]["value"]),
            peak * tau,
            "efficiency_defaults.yaml gemm_max",
        )
    att = cal.attention.get(dtype) if cal else None
    if att is not None:
        att_max, att_half, src["attention"] = (
            att.max,
            att.half_flops if att.half_flops is not None else peak * tau,
            "profile",
        )
    else:
        att_max = gemm_max * float(d["attention_max_fraction_of_gemm"]["value"])
        att_half, src["attention"] = half, "gemm × attention_max_fraction_of_gemm (defaults)"
    by_kernel: dict[str, Num] = {
        kernel: gemm_max * float(table[hw.generation]) * sustained
        for kernel, table in d["attention_kernels"].items()
        if isinstance(table, dict) and hw.generation in table
    }
    mem = (
        cal.memory_bandwidth_efficiency
        if cal and cal.memory_bandwidth_efficiency
        else float(d["memory_bandwidth"]["value"])
    )
    if fitted is not None and fitted.memory_bandwidth_efficiency:
        mem = fitted.memory_bandwidth_efficiency
    intra = cal.comm.get("intra_node") if cal else None
    inter = cal.comm.get("inter_node") if cal else None
    src["training_gemm_fraction"] = src_sustained
    return Efficiencies(
        peak_flops_per_s=peak,
        gemm_max=gemm_max * sustained,
        gemm_half_flops=half,
        attention_max=att_max * sustained,
        attention_half_flops=att_half,
        memory=mem,
        memory_bandwidth_bytes_per_s=hw.memory_bandwidth_bytes_per_s,
        intra_bandwidth_bytes_per_s=intra.bandwidth_bytes_per_s
        if intra
        else hw.intra_node_bandwidth_bytes_per_s * float(d["intra_node_link"]["value"]),
        intra_alpha_s=intra.alpha_s if intra else float(d["intra_node_link"]["alpha_s"]),
        inter_bandwidth_bytes_per_s=inter.bandwidth_bytes_per_s
        if inter
        else hw.inter_node_bandwidth_bytes_per_s
        * (
            fitted.network_efficiency
            if fitted is not None and fitted.network_efficiency
            else float(d["inter_node_link"]["value"])
        ),
        inter_alpha_s=inter.alpha_s if inter else float(d["inter_node_link"]["alpha_s"]),
        sources=src,
        step_overhead_s=fitted.step_overhead_s if fitted is not None else 0.0,
        attention_by_kernel=by_kernel,
    )
