"""The training scenario: every input of one estimate, validated once, with cross-field rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from estimator.specs.base import Frozen
from estimator.specs.hardware import HardwareSpec
from estimator.specs.model import ModelSpec
from estimator.specs.parallel import ParallelismSpec
from estimator.specs.plan import PlanSpec
from estimator.specs.precision import PRECISIONS, PrecisionName, PrecisionPolicy
from estimator.specs.stack import DEFAULT_STACK, StackName, apply_stack
from estimator.specs.workload import (
    AssumptionsSpec,
    EnergySpec,
    FinetuneSpec,
    Objective,
    PhaseSpec,
    PricingSpec,
    TrainingSpec,
)

_OBJECTIVES: dict[str, tuple[Objective, ...]] = {
    "decoder": ("causal-lm",),
    "encoder": ("masked-lm", "mlm-nsp"),
    "encoder-decoder": ("span-corruption", "causal-lm"),
}


def _base_dir(info: ValidationInfo) -> Path | None:
    ctx = info.context if isinstance(info.context, dict) else {}
    base = ctx.get("base_dir")
    return Path(base) if base else None


def _refuse_paths(info: ValidationInfo, field: str, text: str) -> None:
    """Where files may not be named (the dashboard: a URL must not read the server's files), only shipped
    presets and profiles are accepted."""
    ctx = info.context if isinstance(info.context, dict) else {}
    if ctx.get("names_only") and (text.endswith((".json", ".yaml", ".yml")) or "/" in text or "\\" in text):
        raise ValueError(
            f"{field}: a file path is not accepted here; name a shipped {field} "
            f"({'preset' if field == 'model' else 'profile'}) or upload the file"
        )


class Scenario(Frozen):
    """A training scenario (DESIGN.md, "A training scenario file")."""

    name: str = Field(default="scenario", max_length=200)
    model: ModelSpec
    hardware: HardwareSpec
    gpus: int = Field(gt=0, le=100_000_000)
    parallelism: ParallelismSpec = ParallelismSpec()
    precision: PrecisionName = "bf16-mixed"
    stack: StackName = DEFAULT_STACK  # sets the switches of estimator/data/stacks.yaml not given explicitly
    training: TrainingSpec
    pricing: PricingSpec = PricingSpec()
    energy: EnergySpec = EnergySpec()
    assumptions: AssumptionsSpec = AssumptionsSpec()
    plan: PlanSpec | None = None  # read by `estimator plan`; `estimator train` ignores it
    finetune: FinetuneSpec | None = None
    phases: tuple[PhaseSpec, ...] = ()  # a multi-phase run: the phases' costs add up

    @model_validator(mode="before")
    @classmethod
    def _stack_switches(cls, data: Any) -> Any:
        return apply_stack(data) if isinstance(data, dict) else data

    @field_validator("model", mode="before")
    @classmethod
    def _resolve_model(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str | Path):
            from estimator.hf_config import load_hf_config
            from estimator.presets import get_model

            text = str(value)
            _refuse_paths(info, "model", text)
            if text.endswith(".json"):
                path = Path(text)
                base = _base_dir(info)
                return load_hf_config(base / path if base and not path.is_absolute() else path)
            return get_model(text)
        if isinstance(value, dict) and "preset" in value:
            from estimator.presets import get_model

            overrides = {k: v for k, v in value.items() if k != "preset"}
            base_fields = get_model(str(value["preset"])).model_dump()
            return {**base_fields, **overrides}
        return value

    @field_validator("hardware", mode="before")
    @classmethod
    def _resolve_hardware(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str | Path):
            from estimator.profiles import load_hardware

            _refuse_paths(info, "hardware", str(value))
            return load_hardware(value, _base_dir(info))
        return value

    @model_validator(mode="after")
    def _cross_field(self) -> Scenario:
        model, p, training = self.model, self.parallelism, self.training
        rules: list[tuple[bool, str]] = [
            (
                self.gpus % p.model_parallel == 0,
                f"gpus: {self.gpus} is not a multiple of tp·pp·cp = {p.tp}·{p.pp}·{p.cp} = "
                f"{p.model_parallel}",
            ),
            (
                model.n_heads % p.tp == 0,
                f"parallelism.tp: model.n_heads ({model.n_heads}) is not divisible by tp ({p.tp})",
            ),
            (
                model.n_kv_heads % p.tp == 0,
                f"parallelism.tp: model.n_kv_heads ({model.n_kv_heads}) is not divisible by tp ({p.tp})",
            ),
            (
                model.total_layers >= p.pp * p.virtual_stages,
                f"parallelism.pp: the model's {model.total_layers} layers cannot fill pp·virtual_stages = "
                f"{p.pp}·{p.virtual_stages} = {p.pp * p.virtual_stages} model chunks",
            ),
            (
                model.n_experts % p.ep == 0,
                f"parallelism.ep: model.n_experts ({model.n_experts}) is not divisible by ep ({p.ep})",
            ),
            (
                training.seq_len <= model.max_seq_len
                or model.position in ("rope", "alibi", "relative", "sinusoidal", "none"),
                f"training.seq_len: {training.seq_len} exceeds the model's learned positions (max_seq_len "
                f"{model.max_seq_len})",
            ),
            (
                p.cp == 1 or training.seq_len % (2 * p.cp) == 0,
                f"parallelism.cp: training.seq_len ({training.seq_len}) must be divisible by 2·cp = "
                f"{2 * p.cp} "
                "(load-balanced causal context parallelism)",
            ),
            (
                training.objective is None or training.objective in _OBJECTIVES[model.architecture],
                f"training.objective: {training.objective!r} does not fit a {model.architecture} model; "
                f"use one of {', '.join(_OBJECTIVES[model.architecture])}",
            ),
            (
                training.tokens is not None or self.finetune is not None or bool(self.phases),
                "training.tokens: required (the tokens to train on), unless a finetune block gives "
                "dataset_tokens or phases give them",
            ),
            (
                training.objective != "mlm-nsp" or model.nsp_head,
                "training.objective: mlm-nsp needs a model with nsp_head: true (next-sentence prediction "
                "head)",
            ),
            (
                training.decoder_seq_len is None or model.architecture == "encoder-decoder",
                "training.decoder_seq_len is only for encoder-decoder models",
            ),
            (
                PRECISIONS[self.precision].compute_dtype in _available(self.hardware),
                f"precision: {self.precision} needs a {PRECISIONS[self.precision].compute_dtype} peak, "
                "which hardware "
                f"{self.hardware.name!r} does not have (it has {', '.join(_available(self.hardware))})",
            ),
        ]
        errors = [msg for ok, msg in rules if not ok]
        if not errors:
            errors += self._partition_errors()
        if not errors and p.ep > 1 and self.dp * p.cp % p.ep:
            errors.append(
                f"parallelism.ep: ep ({p.ep}) must divide dp·cp ({self.dp}·{p.cp}); experts are spread "
                "over data-parallel ranks"
            )
        if not errors and training.global_batch % (p.micro_batch * self.dp):
            errors.append(
                f"training.global_batch: {training.global_batch} is not divisible by micro_batch·dp = "
                f"{p.micro_batch}·{self.dp} = {p.micro_batch * self.dp}"
            )
        if not errors and p.effective_schedule == "interleaved" and self.micro_batches % p.pp:
            errors.append(
                f"parallelism.virtual_stages: the interleaved schedule needs micro-batches per step "
                f"({self.micro_batches}) divisible by pp ({p.pp})"
            )
        if errors:
            raise ValueError("; ".join(errors))
        return self

    def _partition_errors(self) -> list[str]:
        """The pipeline partition must exist. Interleaving splits each stage into virtual_stages chunks: equal
        ones for a partition the estimator chooses (Megatron-LM asserts that layers per stage divide by
        the virtual stages), at least one layer each for a partition the scenario gives (Megatron's
        uneven first/last stages and embedding/loss slots)."""
        from estimator.errors import InputError
        from estimator.training.pipeline import stage_partition, uniform_partition

        p = self.parallelism
        layers = self.model.total_layers
        try:
            stages = stage_partition(self.model, p) or [layers // p.pp] * p.pp
        except InputError as exc:
            return [str(exc)]
        if not p.uneven and layers % p.pp:
            stages = uniform_partition(layers, p.pp)
        v = p.virtual_stages
        if v > 1 and p.uneven and min(stages) < v:
            return [
                f"parallelism.virtual_stages: a stage of {min(stages)} layers cannot hold {v} model chunks"
            ]
        if v > 1 and not p.uneven and any(n % v for n in stages):
            return [
                f"parallelism.pp: the model's {layers} layers are not divisible by pp·virtual_stages = "
                f"{p.pp}·{v} = {p.pp * v} (give parallelism.stage_layers for uneven chunks)"
            ]
        return []

    @property
    def dp(self) -> int:
        """Data-parallel size: gpus / (tp·pp·cp)."""
        return self.gpus // self.parallelism.model_parallel

    @property
    def micro_batches(self) -> int:
        """Micro-batches per step per pipeline: m = global_batch / (micro_batch·dp)."""
        return self.training.global_batch // (self.parallelism.micro_batch * self.dp)

    @property
    def tokens(self) -> float:
        """Tokens to process: the fine-tuning data × epochs, the phases' tokens, else training.tokens."""
        if self.finetune is not None:
            return self.finetune.tokens
        if self.phases and self.training.tokens is None:
            return float(sum(p.tokens for p in self.phases))
        return float(self.training.tokens or 0.0)

    @property
    def precision_policy(self) -> PrecisionPolicy:
        return PRECISIONS[self.precision]

    @property
    def objective(self) -> Objective:
        if self.training.objective is not None:
            return self.training.objective
        if self.model.architecture == "encoder":
            return "mlm-nsp" if self.model.nsp_head else "masked-lm"
        return _OBJECTIVES[self.model.architecture][0]


def _available(hw: HardwareSpec) -> list[str]:
    return [k for k, v in hw.peak_flops_per_s.model_dump().items() if v is not None]
