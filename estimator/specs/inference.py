"""The serving scenario: model, hardware, a replica's layout, serving precision and quantisation, the
request shape, and optionally the traffic and latency targets to size a deployment for."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from estimator.specs.base import Frozen
from estimator.specs.hardware import HardwareSpec
from estimator.specs.model import ModelSpec
from estimator.specs.workload import EnergySpec, PricingSpec

ServeDtype = Literal["fp32", "fp16", "bf16", "fp8", "fp4"]
StoreDtype = Literal["fp32", "fp16", "bf16", "fp8", "fp4", "int8", "int4"]
# bytes per element as stored; int4 adds one fp16 scale and one fp16 zero point per group of 128
# weights (GPTQ/AWQ's usual group size): 0.5 + 4/128
STORE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "fp4": 0.5 + 1 / 16,  # NVFP4: E2M1 with one FP8 scale per 16 elements
    "int8": 1.0,
    "int4": 0.5 + 4 / 128,
}


class QuantisationSpec(Frozen):
    """How weights and the KV cache are stored (weight-only formats are dequantised for the matmul)."""

    weights: StoreDtype | None = None  # None: the serving precision
    kv_cache: StoreDtype | None = None


class Distribution(Frozen):
    """A token-length distribution: its mean, and optionally its 95th percentile (for latency and memory).

    `kind` shapes it for the simulator: fixed (every request at the mean), lognormal (the default when a
    p95 is given: the lognormal with this mean and p95), uniform (between `low` and `high`), or a
    histogram (`values` with `weights`, whose mean must be `mean`)."""

    mean: float = Field(ge=1.0, le=1.0e7)  # tokens: one to ten million
    p95: float | None = Field(default=None, ge=1.0, le=1.0e7)
    kind: Literal["fixed", "lognormal", "uniform", "histogram"] | None = None
    low: float | None = Field(default=None, ge=1.0, le=1.0e7)
    high_bound: float | None = Field(default=None, ge=1.0, le=1.0e7, alias="high")
    values: tuple[float, ...] = ()
    weights: tuple[float, ...] = ()

    model_config = {**Frozen.model_config, "populate_by_name": True}

    @model_validator(mode="after")
    def _ordered(self) -> Distribution:
        if self.p95 is not None and self.p95 < self.mean:
            raise ValueError(f"p95 ({self.p95}) must be at least the mean ({self.mean})")
        if self.shape == "uniform" and (
            self.low is None or self.high_bound is None or not self.low <= self.mean <= self.high_bound
        ):
            raise ValueError("a uniform distribution needs low ≤ mean ≤ high (mean = (low + high) / 2)")
        if self.shape == "histogram":
            if not self.values or len(self.values) != len(self.weights) or min(self.weights) < 0:
                raise ValueError("a histogram needs as many non-negative weights as values")
            if not all(1.0 <= v <= 1.0e7 for v in self.values) or sum(self.weights) <= 0:
                raise ValueError("histogram values must lie in 1…10⁷ tokens and weights must not all be 0")
        return self

    @property
    def shape(self) -> str:
        return self.kind or ("lognormal" if self.p95 is not None and self.p95 > self.mean else "fixed")

    @property
    def high(self) -> float:
        """The length memory is sized for: the p95, the top of a uniform range, the histogram's largest."""
        if self.shape == "uniform" and self.high_bound is not None:
            return self.high_bound
        if self.shape == "histogram":
            return max(self.values)
        return self.p95 if self.p95 is not None else self.mean


def _as_distribution(value: Any) -> Any:
    return {"mean": value} if isinstance(value, int | float) and not isinstance(value, bool) else value


class RequestSpec(Frozen):
    """One request: prompt and output tokens (numbers or distributions), decoding and the batch."""

    batch: int = Field(default=1, gt=0, le=1_000_000)
    prompt_tokens: Distribution = Distribution(mean=512)
    output_tokens: Distribution = Distribution(mean=256)
    decoding: Literal["greedy", "sampling", "beam"] = "greedy"
    beam_width: int = Field(default=1, gt=0, le=1024)

    _dist = field_validator("prompt_tokens", "output_tokens", mode="before")(
        lambda cls, v: _as_distribution(v)
    )

    @model_validator(mode="after")
    def _beams(self) -> RequestSpec:
        if self.beam_width > 1 and self.decoding != "beam":
            raise ValueError(f"inference.beam_width {self.beam_width} needs decoding: beam")
        return self

    @property
    def hypotheses(self) -> int:
        """Sequences decoded per request: k for beam search (Wu et al. 2016), else 1."""
        return self.beam_width if self.decoding == "beam" else 1


class TrafficSpec(Frozen):
    """Load to serve and latency to meet. Give requests_per_s or requests_per_day."""

    requests_per_s: float | None = Field(default=None, gt=0.0, le=1.0e7)
    requests_per_day: float | None = Field(default=None, gt=0.0, le=1.0e12)
    ttft_target_s: float = Field(default=1.0, gt=0.0, le=3600.0)
    tpot_target_s: float = Field(default=0.05, gt=0.0, le=60.0)
    max_utilisation: float = Field(default=0.7, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _one_rate(self) -> TrafficSpec:
        if (self.requests_per_s is None) == (self.requests_per_day is None):
            raise ValueError("traffic: give exactly one of requests_per_s and requests_per_day")
        return self

    @property
    def rate_per_s(self) -> float:
        return (
            self.requests_per_s
            if self.requests_per_s is not None
            else (self.requests_per_day or 0.0) / 86400.0
        )


class EngineSpec(Frozen):
    """How the serving engine schedules (vLLM-style continuous batching): at most `max_batch` sequences
    at once, at most `token_budget` tokens per step (decode tokens first, then prefill chunks: chunked
    prefill), the KV cache in blocks of `block_size` tokens, and preemption by recomputation when it is
    full. Defaults: vLLM 0.6 (max_num_seqs 256, max_num_batched_tokens 2048 with chunked prefill,
    block 16)."""

    max_batch: int = Field(default=256, gt=0, le=1_000_000)
    token_budget: int = Field(default=2048, gt=0, le=100_000_000)
    block_size: int = Field(default=16, gt=0, le=4096)
    chunked_prefill: bool = True


class SpeculativeSpec(Frozen):
    """Speculative decoding (Leviathan et al. 2023): `k` draft tokens per step, each accepted with
    probability `acceptance`; the draft is a model preset (its own decode steps) or heads/n-grams whose
    cost is `draft_cost` × a target decode step per drafted token (EAGLE/Medusa heads: a few %)."""

    k: int = Field(default=4, gt=0, le=64)
    acceptance: float = Field(default=0.7, ge=0.0, lt=1.0)
    draft_model: str | None = None
    draft_cost: float = Field(default=0.05, ge=0.0, le=2.0)

    @property
    def tokens_per_step(self) -> float:
        """Expected tokens per target step: (1 − α^(k+1)) / (1 − α) (Leviathan et al. 2023, Eq. 1)."""
        a = self.acceptance
        return (1 - a ** (self.k + 1)) / (1 - a)


class DisaggregationSpec(Frozen):
    """Prefill and decode on separate pools (DistServe, Splitwise): `prefill_gpus` run prompts, the KV
    cache moves to the decode replica over the network (`kv_transfer_gb_per_s`, default the profile's
    inter-node bandwidth)."""

    prefill_replicas: int = Field(default=1, gt=0, le=100_000)
    kv_transfer_gb_per_s: float | None = Field(default=None, gt=0.0, le=1.0e5)


class ServingParallelism(Frozen):
    """One replica's layout (tensor and pipeline parallel); replicas scale out for traffic."""

    tp: int = Field(default=1, gt=0, le=1024)
    pp: int = Field(default=1, gt=0, le=1024)


class InferenceScenario(Frozen):
    """An inference scenario (DESIGN.md, "An inference scenario file")."""

    name: str = Field(default="serving", max_length=200)
    model: ModelSpec
    hardware: HardwareSpec
    gpus: int = Field(default=1, gt=0, le=1_048_576)
    parallelism: ServingParallelism = ServingParallelism()
    precision: ServeDtype = "bf16"
    quantisation: QuantisationSpec = QuantisationSpec()
    inference: RequestSpec = RequestSpec()
    traffic: TrafficSpec | None = None
    engine: EngineSpec = EngineSpec()
    speculative: SpeculativeSpec | None = None
    disaggregation: DisaggregationSpec | None = None
    pricing: PricingSpec = PricingSpec()
    energy: EnergySpec = EnergySpec()
    flash_attention: bool = True
    memory_utilisation: float = Field(default=0.9, gt=0.0, le=1.0)  # vLLM's gpu_memory_utilization default
    framework_overhead_bytes: float = Field(default=2.0e9, ge=0.0, le=1.0e13)

    @field_validator("model", mode="before")
    @classmethod
    def _model(cls, value: Any, info: ValidationInfo) -> Any:
        from estimator.specs.scenario import Scenario

        return Scenario._resolve_model(value, info)

    @field_validator("hardware", mode="before")
    @classmethod
    def _hardware(cls, value: Any, info: ValidationInfo) -> Any:
        from estimator.specs.scenario import Scenario

        return Scenario._resolve_hardware(value, info)

    @model_validator(mode="after")
    def _cross(self) -> InferenceScenario:
        model, p = self.model, self.parallelism
        errors = []
        if self.gpus != p.tp * p.pp:
            errors.append(f"gpus: a replica has tp·pp = {p.tp * p.pp} GPUs, not {self.gpus}")
        if model.n_heads % p.tp or model.n_kv_heads % p.tp:
            errors.append(
                f"parallelism.tp: model.n_heads ({model.n_heads}) and n_kv_heads ({model.n_kv_heads}) must "
                "be "
                f"divisible by tp ({p.tp})"
            )
        if model.total_layers % p.pp:
            errors.append(
                f"parallelism.pp: the model's {model.total_layers} layers are not divisible by pp ({p.pp})"
            )
        if model.architecture == "encoder":
            errors.append("model: an encoder has no autoregressive decoding to serve")
        if self.hardware.peak_flops_per_s.get(self.precision) is None:
            errors.append(f"precision: hardware {self.hardware.name!r} has no {self.precision} peak")
        if errors:
            raise ValueError("; ".join(errors))
        return self

    @property
    def weight_bytes(self) -> float:
        return STORE_BYTES[self.quantisation.weights or self.precision]

    @property
    def kv_bytes(self) -> float:
        return STORE_BYTES[self.quantisation.kv_cache or self.precision]

    @property
    def act_bytes(self) -> float:
        """Activations between kernels (and the tensor-parallel all-reduce): 16 bits under fp8/fp4 GEMMs,
        which quantise their inputs on the fly (TensorRT-LLM, vLLM)."""
        return max(STORE_BYTES[self.precision], 2.0)

    @property
    def weight_stream_factor(self) -> float:
        """How fast weight-only quantised GEMMs stream their weights relative to 16-bit ones (dequantising in
        the kernel): int8 and int4 from gpt-fast's A100 decode (efficiency_defaults.yaml); 1 otherwise."""
        from estimator.roofline import efficiency_defaults

        store = self.quantisation.weights or self.precision
        table = efficiency_defaults()["weight_only_streaming"]
        return float(table[store]) if store in table and store != self.precision else 1.0
