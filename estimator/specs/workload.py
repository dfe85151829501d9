"""What the job does and what it is assumed to cost: training workload, pricing, energy, assumptions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from estimator.specs.base import Frozen
from estimator.specs.precision import OptimizerName, RecipeName

Objective = Literal["causal-lm", "masked-lm", "mlm-nsp", "span-corruption"]
AttentionFlops = Literal["full", "half"]


class TrainingSpec(Frozen):
    """The training workload. `tokens` counts input tokens (encoder inputs for an encoder-decoder).

    `objective` defaults from the architecture: causal-lm (decoder), mlm-nsp (encoder),
    span-corruption (encoder-decoder). `causal_attention_flops` is the counting convention for causal
    attention: "full" counts the whole s×s score matrix (Narayanan et al. 2021, PaLM, Korthikanti et al.
    2022 Eq. 7), "half" only the causal triangle (newer Megatron-LM); unset, it counts what the kernel
    executes (half with FlashAttention, which skips masked blocks; full without). It changes reported FLOP
    counts, not time; MFU and HFU always count what the kernels execute, so they cannot exceed 1.
    """

    tokens: float | None = Field(default=None, ge=1, le=1e18)
    global_batch: int = Field(gt=0, le=1_000_000_000)
    seq_len: int = Field(gt=0, le=1_000_000_000)
    objective: Objective | None = None
    decoder_seq_len: int | None = Field(default=None, gt=0, le=1_000_000_000)
    mlm_probability: float = Field(default=0.15, gt=0.0, le=1.0)
    gather_masked_logits: bool = False
    noise_density: float = Field(default=0.15, gt=0.0, le=0.95)  # UL2 uses up to 0.5
    mean_noise_span_length: float = Field(default=3.0, ge=1.0, le=1.0e4)  # UL2 uses up to 64
    optimizer: OptimizerName = "adamw"
    recipe: RecipeName | None = (
        None  # fp8/fp4 scaling recipe (default: the precision's; specs/precision.RECIPES)
    )
    flash_attention: bool = True
    causal_attention_flops: AttentionFlops | None = None


class FinetuneSpec(Frozen):
    """Fine-tuning instead of pre-training: which weights train and on how much data.

    full: every weight trains (as pre-training). lora (Hu et al. 2021): the base is frozen in the
    scenario's 16-bit weights and rank-`rank` adapters A·B train on `targets` (Q and V, as the LoRA
    paper; all four attention projections; or every linear layer). qlora (Dettmers et al. 2023): the
    frozen base is stored in 4-bit NF4 with double-quantised block constants (0.127 bits per parameter,
    Sec. 3), dequantised to 16 bits for each matmul. Tokens processed = dataset_tokens × epochs.
    """

    method: Literal["full", "lora", "qlora"] = "lora"
    rank: int = Field(default=16, gt=0, le=1_000_000)
    targets: Literal["qv", "attention", "all-linear"] = "all-linear"
    dataset_tokens: float = Field(ge=1, le=1e18)
    epochs: float = Field(default=1.0, gt=0, le=1e6)

    @property
    def frozen_base(self) -> bool:
        return self.method != "full"

    @property
    def tokens(self) -> float:
        return self.dataset_tokens * self.epochs


class PricingSpec(Frozen):
    """Price per accelerator-hour; None takes the hardware profile's first (dated, sourced) price."""

    usd_per_gpu_hour: float | None = Field(default=None, gt=0, le=100_000)


class EnergySpec(Frozen):
    """Energy and carbon assumptions.

    Energy = GPU-hours × board power × `pue`; CO2 = energy × `kg_co2_per_kwh`. Board power is the
    average power measured in training where a source publishes it for the accelerator (the profile's
    `measured_power_w`: V100 330 W against its 300 W TDP, Patterson et al. 2021 Table 4), else TDP ×
    `power_fraction_of_tdp` (1.0 when not given: Meta's model cards). Giving the fraction always uses it.
    Defaults: PUE 1.1 (Patterson et al. 2021 Table 4
    for the GPT-3 datacenter; LLaMA-1 §6), 0.429 kgCO2e/kWh (US average mix, Patterson et al. 2021).
    `usd_per_kwh` prices the electricity as `energy_cost_usd` (e.g. 0.0806, the 2023 US industrial average,
    EIA); it is reported beside, not added to, the GPU-hour cost, which for rented GPUs includes power.
    """

    power_fraction_of_tdp: float | None = Field(default=None, gt=0.0, le=1.5)
    pue: float = Field(default=1.1, ge=1.0, le=3.0)
    kg_co2_per_kwh: float = Field(default=0.429, ge=0.0, le=2.0)
    usd_per_kwh: float | None = Field(
        default=None, ge=0.0, le=10.0
    )  # prices `energy_cost_usd` (owned hardware)


class AssumptionsSpec(Frozen):
    """Assumptions the model does not derive: framework memory and how gradients are synchronised.

    `framework_overhead_bytes` is the CUDA context, NCCL buffers and allocator slack (about 1–2 GB in
    PyTorch; EleutherAI saw ~5 GiB with Megatron-DeepSpeed). `overlap_grad_reduce`: the data-parallel
    gradient reduction runs during the last micro-batch's backward (PyTorch DDP, FSDP, Megatron-LM's
    --overlap-grad-reduce) rather than after it (Megatron-LM's local DDP of 2021–22).
    `fp32_grad_reduce`: gradients are reduced in fp32 (Megatron's --accumulate-allreduce-grads-in-fp32).
    The other switches (estimator/data/stacks.yaml says what each means) are set by the scenario's `stack`
    unless given here; the defaults are Megatron-Core's. Kernel and link efficiencies are not assumptions
    here: they come from the hardware profile.
    """

    framework_overhead_bytes: float = Field(default=2.0e9, ge=0.0)
    overlap_grad_reduce: bool = True
    fp32_grad_reduce: bool = False
    overlap_param_gather: bool = True
    tp_comm_overlap: bool = True
    pp_comm_overlap: bool = True
    fused_elementwise: bool = True
    attention_kernel: Literal["flash2", "cudnn", "flash3"] = "cudnn"


class PhaseSpec(Frozen):
    """One phase of a multi-phase run: its tokens and what changes from the scenario (sequence length, global
    batch — one number, or [start, end] for a linear ramp over the phase's tokens —, GPUs, layout fields).
    BERT's 90 % of steps at sequence 128 then 512, DeepSeek-V3's batch ramp, Llama 3's long-context stages."""

    name: str = Field(default="", max_length=200)
    tokens: float = Field(ge=1, le=1e18)
    seq_len: int | None = Field(default=None, gt=0, le=1_000_000_000)
    global_batch: int | tuple[int, int] | None = None
    gpus: int | None = Field(default=None, gt=0, le=100_000_000)
    parallelism: dict[str, int | bool | str | list[int]] | None = None

    @property
    def ramp(self) -> tuple[int, int] | None:
        return self.global_batch if isinstance(self.global_batch, tuple) else None
