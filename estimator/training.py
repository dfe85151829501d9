"""Composition: a Scenario in, a TrainingEstimate out (params → FLOPs → memory → time → cost)."""

from __future__ import annotations

from typing import Any

from estimator.cost import co2_kg, cost_usd, energy_cost_usd, energy_kwh, gpu_hours, steps_for_tokens
from estimator.errors import require_finite
from estimator.feasibility import NOT_PRICED, fit_suggestions, shortfall_bytes, shortfall_text
from estimator.finetune import layer_lora_flops
from estimator.flops import forward_flops, step_flops, training_flops_6nd
from estimator.memory import memory_per_gpu
from estimator.params import count_params
from estimator.results import TrainingEstimate
from estimator.roofline import Efficiencies
from estimator.specs.precision import OPTIMIZERS
from estimator.specs.scenario import Scenario
from estimator.step_time import StepTime, step_time
from estimator.training_shape import sequence_shape
from estimator.uncertainty import step_time_range

TIME_MODEL = ("per-operation roofline (GEMMs at a size-dependent efficiency, attention, element-wise kernels at HBM "
              "bandwidth), α-β collectives on the node/network links, pipeline schedule with its bubble, "
              "data-parallel synchronisation and a memory-bound optimizer step (estimator.step_time)")


def _price(sc: Scenario) -> tuple[float | None, dict[str, Any]]:
    if sc.pricing.usd_per_gpu_hour is not None:
        return sc.pricing.usd_per_gpu_hour, {"usd_per_gpu_hour": sc.pricing.usd_per_gpu_hour, "source": "scenario"}
    price = sc.hardware.default_price
    if price is None:
        return None, {"usd_per_gpu_hour": None,
                      "source": f"no price in profile {sc.hardware.name!r}: set pricing.usd_per_gpu_hour"}
    return price.usd_per_gpu_hour, {"usd_per_gpu_hour": price.usd_per_gpu_hour, "provider": price.provider,
                                    "kind": price.kind, "date": price.date, "source": price.source}


def _assumptions(sc: Scenario, price_info: dict[str, Any], st: StepTime, range_note: str) -> dict[str, Any]:
    a, e, t, p = sc.assumptions, sc.energy, sc.training, sc.parallelism
    prec, eff = sc.precision_policy, st.efficiencies
    return {
        "time_model": TIME_MODEL,
        "step_time_range": range_note,
        "peak_flops_per_s": eff.peak_flops_per_s,
        "compute_dtype": prec.compute_dtype,
        "efficiencies": {"gemm_max": eff.gemm_max, "gemm_half_flops": eff.gemm_half_flops,
                         "attention_max": eff.attention_max, "memory_bandwidth": eff.memory,
                         "intra_node_bandwidth_bytes_per_s": eff.intra_bandwidth_bytes_per_s,
                         "inter_node_bandwidth_bytes_per_s": eff.inter_bandwidth_bytes_per_s,
                         "sources": eff.sources},
        "precision": f"{prec.name}: {prec.note}",
        "optimizer": f"{t.optimizer}: {OPTIMIZERS[t.optimizer].note}",
        "objective": sc.objective,
        "causal_attention_flops": t.causal_attention_flops,
        "flops_convention": "2 FLOPs per multiply-add; matmuls only (norms listed apart); backward = 2 × forward; "
                            "causal attention counted " + ("as the kernel executes it" if t.causal_attention_flops is None
                                                          else t.causal_attention_flops) + "; MFU and HFU count the "
                            "FLOPs the kernels execute",
        "recompute": p.recompute,
        "pipeline_schedule": p.effective_schedule,
        "zero_stage": p.effective_zero_stage,
        "flash_attention": t.flash_attention,
        "overlap_grad_reduce": a.overlap_grad_reduce,
        "dropout": sc.model.dropout,
        "finetune": (sc.finetune.model_dump(mode="json") | {"note": "activation memory as for full training (an upper "
                     "bound: frozen matmuls without adapters need not keep their inputs)"}) if sc.finetune else None,
        "framework_overhead_bytes": a.framework_overhead_bytes,
        "memory_notes": "activations per Korthikanti et al. 2022 Table 2 generalised (1-byte dropout masks); "
                        "worst pipeline stage reported",
        "price": price_info,
        "energy": {"power_fraction_of_tdp": e.power_fraction_of_tdp, "board_power_w": sc.hardware.tdp_w,
                   "pue": e.pue, "kg_co2_per_kwh": e.kg_co2_per_kwh, "usd_per_kwh": e.usd_per_kwh,
                   "source": "GPU-hours × TDP × fraction × PUE (Llama 2 model card; Patterson et al. 2021)"},
    }


def _memory_of(data: dict[str, Any]) -> tuple[float, float]:
    from estimator.scenario_io import scenario_from_dict

    mem = memory_per_gpu(scenario_from_dict(data))
    return float(mem.total), float(mem.capacity)


def _not_fitting(sc: Scenario, total: float, capacity: float) -> tuple[str, list[str]]:
    """The shortfall sentence and what would make `sc` fit."""
    data = sc.model_dump(mode="json", exclude={"plan"})
    return shortfall_text(total_bytes=total, capacity_bytes=capacity), fit_suggestions(data, _memory_of)


def estimate_training(sc: Scenario, efficiencies: Efficiencies | None = None) -> TrainingEstimate:
    """Estimate parameters, FLOPs, memory, time, cost and energy of training `sc` (with the profile's
    efficiencies, or `efficiencies` to ask "what if the kernels ran faster or slower").

    A configuration that does not fit in memory gets no price (cost fields None) but its shortfall and
    the smallest changes that make it fit."""
    m, p, t = sc.model, sc.parallelism, sc.training
    params = count_params(m)
    ft = sc.finetune
    frozen = bool(ft and ft.frozen_base)

    def flops_of(executed: bool) -> tuple[Any, Any]:
        shape = sequence_shape(sc, executed=executed)
        fwd = forward_flops(m, shape)
        adapters = (layer_lora_flops(m, ft, shape.encoder_tokens) * m.n_layers
                    + layer_lora_flops(m, ft, shape.decoder_tokens) * m.n_decoder_layers) if ft and frozen else 0.0
        return fwd, step_flops(fwd, sequences=t.global_batch, recompute=p.recompute, flash=t.flash_attention,
                               frozen_base=frozen, adapter_flops=adapters)

    fwd, flops = flops_of(executed=False)  # as the counting convention says
    _, executed = flops_of(executed=True)  # as the kernels run: MFU's and HFU's numerators
    st = step_time(sc, efficiencies)
    step_s = float(st.total)
    fast_s, slow_s, range_note = step_time_range(step_s, sc.hardware.name)
    peak = st.efficiencies.peak_flops_per_s
    tokens_per_step = float(t.global_batch * t.seq_len)
    steps = steps_for_tokens(tokens=sc.tokens, tokens_per_step=tokens_per_step)
    train_s = steps * step_s
    hours = gpu_hours(gpus=sc.gpus, seconds=train_s)
    hours_range = (gpu_hours(gpus=sc.gpus, seconds=steps * fast_s), gpu_hours(gpus=sc.gpus, seconds=steps * slow_s))
    usd_per_hour, price_info = _price(sc)
    energy = energy_kwh(gpu_hours=hours, board_power_w=sc.hardware.tdp_w,
                        power_fraction=sc.energy.power_fraction_of_tdp, pue=sc.energy.pue)
    mem = memory_per_gpu(sc)
    fits = bool(mem.fits)
    priced = usd_per_hour is not None and fits
    shortfall, suggestions = ("", []) if fits else _not_fitting(sc, float(mem.total), float(mem.capacity))
    if not fits:
        price_info = {**price_info, "not_priced": f"{NOT_PRICED}: {shortfall}"}
    executed_per_gpu_s = executed.model / step_s / sc.gpus
    usd_kwh = sc.energy.usd_per_kwh
    est = TrainingEstimate(
        scenario=sc.name, model=m.name, hardware=sc.hardware.name, gpus=sc.gpus, dp=sc.dp,
        micro_batches=sc.micro_batches, tokens_per_step=tokens_per_step,
        params_total=params.total, params_active=params.active, params_breakdown=params.as_dict(),
        flops_model_per_step=flops.model, flops_hardware_per_step=flops.hardware,
        flops_model_total=flops.model * steps,
        flops_6nd_total=training_flops_6nd(params=params.active, tokens=steps * tokens_per_step),
        flops_forward_per_sample=fwd.as_dict(),
        step_time_s=step_s, step_time_s_range=(fast_s, slow_s),
        time_breakdown_s={k: float(v) for k, v in st.as_dict().items()},
        tokens_per_s=tokens_per_step / step_s, tflops_per_gpu=executed_per_gpu_s / 1e12,
        mfu=executed_per_gpu_s / peak, hfu=executed.hardware / step_s / sc.gpus / peak,
        steps=steps, train_time_s=train_s, train_time_s_range=(steps * fast_s, steps * slow_s),
        gpu_hours=hours, gpu_hours_range=hours_range,
        cost_usd=cost_usd(gpu_hours=hours, usd_per_gpu_hour=usd_per_hour) if priced and usd_per_hour else None,
        cost_usd_range=(hours_range[0] * usd_per_hour, hours_range[1] * usd_per_hour) if priced and usd_per_hour else None,
        usd_per_gpu_hour=usd_per_hour,
        energy_kwh=energy, co2_kg=co2_kg(energy_kwh=energy, kg_co2_per_kwh=sc.energy.kg_co2_per_kwh),
        energy_cost_usd=energy_cost_usd(energy_kwh=energy, usd_per_kwh=usd_kwh) if usd_kwh is not None and fits else None,
        memory_per_gpu_bytes=mem.as_dict(), memory_capacity_bytes=mem.capacity,
        memory_stage="only" if p.pp == 1 else ("last" if mem.stage else "first"),
        activation_terms_bytes=mem.activation_terms, fits_in_memory=fits,
        memory_shortfall_bytes=shortfall_bytes(total_bytes=float(mem.total), capacity_bytes=float(mem.capacity)),
        fit_suggestions=suggestions,
        assumptions=_assumptions(sc, price_info, st, range_note),
    )
    require_finite(est.to_json_dict(), "check the hardware profile's peaks, bandwidths and memory, and the workload")
    return est
