"""The hardware spec: one accelerator's peaks, memory, links, power and prices, each with its source."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from estimator.specs.base import Frozen
from estimator.units import parse_bytes, parse_bytes_per_s

# physical bounds: a megabyte to a petabyte of memory, a megabyte/s to 10 PB/s of bandwidth, a GFLOP/s to
# 10 EFLOP/s of peak; outside them no accelerator exists and an estimate would not be finite
Bytes = Annotated[float, BeforeValidator(parse_bytes), Field(ge=1e6, le=1e15)]
BytesPerS = Annotated[float, BeforeValidator(parse_bytes_per_s), Field(ge=1e6, le=1e16)]
Peak = Annotated[float, Field(ge=1e9, le=1e19)]
ComputeDtype = Literal["fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "fp4", "int8", "int4"]


class PeakFlops(Frozen):
    """Dense (no 2:4 sparsity) peak FLOP/s per number format; None where the chip has no such path."""

    fp64: Peak | None = None
    fp32: Peak | None = None
    tf32: Peak | None = None
    fp16: Peak | None = None
    bf16: Peak | None = None
    fp8: Peak | None = None
    fp4: Peak | None = None
    int8: Peak | None = None
    int4: Peak | None = None

    def get(self, dtype: ComputeDtype) -> float | None:
        value: float | None = getattr(self, dtype)
        return value


class Price(Frozen):
    """A rental price per accelerator-hour, with who charged it and when."""

    usd_per_gpu_hour: float = Field(gt=0.0, le=1.0e5)
    provider: str
    kind: Literal["on-demand", "reserved", "spot", "assumed"] = "on-demand"
    date: str
    source: str


class EfficiencyCurve(Frozen):
    """Achieved fraction of peak for an operation of `flops` FLOPs: η(F) = max · F / (F + half_flops).

    A saturating curve: small matrices cannot fill the machine (tile and wave quantisation, launch
    overhead), large ones approach `max` (the MAMF of Bekman's ml-engineering, hardware.md §1b).
    Fitted by `estimator calibrate gemm`.
    """

    max: float = Field(ge=0.01, le=1.0)
    half_flops: float | None = Field(
        default=None, ge=0.0, le=1e18
    )  # None: peak × the default kernel overhead


class CommLink(Frozen):
    """α-β model of one link type: time = α·steps + bytes_on_the_wire / bandwidth (Hockney 1994)."""

    alpha_s: float = Field(ge=0.0, le=1.0)
    bandwidth_bytes_per_s: float = Field(ge=1e3, le=1e16)


class FittedCalibration(Frozen):
    """What `estimator validate --fit --write` fitted on the published runs of this profile's generation:
    the fraction of the best-shape GEMM/attention throughput a training step sustains, per precision
    (power and clock limits, training shapes, overlapped communication stealing SMs); the fraction of the
    HBM bandwidth non-GEMM kernels reach; a fixed cost per optimizer step (data loading, launches,
    logging, synchronisation); the share of the NIC line rate NCCL's collectives reach across nodes.
    `runs` lists the runs it was fitted on and `own_runs` how many ran on this very profile (0: the
    profile borrows its generation's values, with a wider range). `residuals` are the
    leave-one-source-out residuals (measured/predicted − 1) of the generation's runs: the step-time range."""

    generation: str
    sustained: dict[ComputeDtype, float] = Field(default_factory=dict)
    memory_bandwidth_efficiency: float | None = Field(default=None, ge=0.05, le=1.5)
    step_overhead_s: float = Field(default=0.0, ge=0.0, le=100.0)
    network_efficiency: float | None = Field(default=None, ge=0.05, le=1.5)  # NCCL bus bw ÷ NIC line rate
    runs: tuple[str, ...] = ()
    own_runs: int = Field(default=0, ge=0)
    residuals: dict[str, float] = Field(default_factory=dict)
    best_mfu: dict[str, float] = Field(default_factory=dict)  # per precision: the best measured MFU
    date: str = ""
    command: str = ""


class ServingCalibration(Frozen):
    """What `estimator validate --serving --write` fitted on published serving measurements of this
    profile's generation (TensorRT-LLM's tables): the share of the best-shape GEMM throughput prefill and
    large-batch decode sustain, the share of the HBM bandwidth decode's weight and KV streaming reaches, a
    fixed cost per decode step (scheduling, sampling, launches) and per prefill call (request set-up),
    the share of dense GEMM efficiency the engine's grouped MoE expert GEMMs reach (fitted only where MoE
    rows exist) and the HBM share decode attention streams the KV cache at (the weights' share where the
    published rows cannot tell the two apart). `residuals` are the
    leave-one-model-out residuals (measured/predicted − 1) the serving ranges come from."""

    generation: str
    sustained: float = Field(ge=0.05, le=1.5)
    memory_bandwidth_efficiency: float = Field(ge=0.05, le=1.5)
    step_overhead_s: float = Field(default=0.0, ge=0.0, le=1.0)
    moe_gemm_share: float = Field(default=1.0, ge=0.05, le=1.5)  # grouped expert GEMMs vs dense ones
    prefill_overhead_s: float = Field(default=0.0, ge=0.0, le=1.0)  # fixed cost of a prefill call
    kv_bandwidth_efficiency: float | None = Field(default=None, ge=0.05, le=1.5)  # decode attention streaming
    runs: tuple[str, ...] = ()
    residuals: dict[str, float] = Field(default_factory=dict)
    date: str = ""
    command: str = ""


class Calibration(Frozen):
    """Measured efficiencies, written by `estimator calibrate` with the date and command that made them;
    `fitted`: the generation's calibration on published runs (`estimator validate --fit --write`)."""

    gemm: dict[ComputeDtype, EfficiencyCurve] = Field(default_factory=dict)
    attention: dict[ComputeDtype, EfficiencyCurve] = Field(default_factory=dict)
    memory_bandwidth_efficiency: float | None = Field(default=None, ge=0.01, le=1.5)
    comm: dict[Literal["intra_node", "inter_node"], CommLink] = Field(default_factory=dict)
    date: str = ""
    command: str = ""
    device: str = ""
    notes: tuple[str, ...] = ()
    fitted: FittedCalibration | None = None
    serving: ServingCalibration | None = None


class HardwareSpec(Frozen):
    """One accelerator. Bandwidths are one direction; TPU rows are per chip, GB200 per GPU."""

    name: str
    display_name: str
    vendor: str
    year: int | None = None
    generation: str | None = Field(default=None, max_length=40)  # architecture family (hopper, blackwell, …)
    peak_flops_per_s: PeakFlops
    memory_bytes: Bytes
    memory_bandwidth_bytes_per_s: BytesPerS
    intra_node_bandwidth_bytes_per_s: BytesPerS
    inter_node_bandwidth_bytes_per_s: BytesPerS
    gpus_per_node: int = Field(gt=0, le=100_000)
    tdp_w: float = Field(ge=1.0, le=100_000)
    measured_power_w: float | None = Field(default=None, ge=1.0, le=100_000)  # average in training, published
    prices: tuple[Price, ...] = ()
    sources: dict[str, str] = Field(default_factory=dict)
    notes: tuple[str, ...] = ()
    calibration: Calibration | None = None

    def peak(self, dtype: ComputeDtype) -> float:
        """Peak FLOP/s for `dtype`; a clear error where the profile has none."""
        value = self.peak_flops_per_s.get(dtype)
        if value is None:
            raise ValueError(f"hardware {self.name!r} has no {dtype} peak in its profile")
        return value

    @property
    def default_price(self) -> Price | None:
        return self.prices[0] if self.prices else None
