"""Composition: a Scenario in, a TrainingEstimate out (params → FLOPs → memory → time → cost)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from estimator.cost import board_power_w, energy_cost_usd
from estimator.errors import require_finite
from estimator.feasibility import NOT_PRICED, fit_suggestions, shortfall_bytes, shortfall_text
from estimator.flops import training_flops_6nd
from estimator.ledger.account import forward_breakdown
from estimator.params import count_params
from estimator.results import TrainingEstimate
from estimator.roofline import Efficiencies
from estimator.specs.precision import OPTIMIZERS
from estimator.specs.scenario import Scenario
from estimator.training.evaluate import evaluate, sample_ledger
from estimator.training.memory import memory_per_gpu
from estimator.training.step import StepTime

TIME_MODEL = (
    "per-operation roofline (GEMMs at a size-dependent efficiency, attention, element-wise kernels at HBM "
    "bandwidth), α-β collectives on the node/network links, pipeline schedule with its bubble, "
    "data-parallel synchronisation and a memory-bound optimizer step (estimator.ledger, "
    "estimator.training.step)"
)


def _assumptions(sc: Scenario, price_info: dict[str, Any], st: StepTime, range_note: str) -> dict[str, Any]:
    a, e, training, p = sc.assumptions, sc.energy, sc.training, sc.parallelism
    prec, eff = sc.precision_policy, st.efficiencies
    return {
        "time_model": TIME_MODEL,
        "step_time_range": range_note,
        "peak_flops_per_s": eff.peak_flops_per_s,
        "compute_dtype": prec.compute_dtype,
        "efficiencies": {
            "gemm_max": eff.gemm_max,
            "gemm_half_flops": eff.gemm_half_flops,
            "attention_max": eff.attention_max,
            "memory_bandwidth": eff.memory,
            "intra_node_bandwidth_bytes_per_s": eff.intra_bandwidth_bytes_per_s,
            "inter_node_bandwidth_bytes_per_s": eff.inter_bandwidth_bytes_per_s,
            "sources": eff.sources,
        },
        "precision": f"{prec.name}: {prec.note}",
        "optimizer": f"{training.optimizer}: {OPTIMIZERS[training.optimizer].note}",
        "objective": sc.objective,
        "seq_len": training.seq_len,
        "global_batch": training.global_batch,
        "causal_attention_flops": training.causal_attention_flops,
        "flops_convention": "2 FLOPs per multiply-add; matmuls only (norms listed apart); backward = 2 × "
        "forward; "
        "causal attention counted "
        + (
            "as the kernel executes it"
            if training.causal_attention_flops is None
            else training.causal_attention_flops
        )
        + "; MFU and HFU count the "
        "FLOPs the kernels execute",
        "recompute": p.recompute,
        "pipeline_schedule": p.effective_schedule,
        "zero_stage": p.effective_zero_stage,
        "flash_attention": training.flash_attention,
        "overlap_grad_reduce": a.overlap_grad_reduce,
        "dropout": sc.model.dropout,
        "finetune": (
            sc.finetune.model_dump(mode="json")
            | {
                "note": "activation memory as for full training (an upper "
                "bound: frozen matmuls without adapters need not keep their inputs)"
            }
        )
        if sc.finetune
        else None,
        "framework_overhead_bytes": a.framework_overhead_bytes,
        "memory_notes": "activations per Korthikanti et al. 2022 Table 2 generalised (1-byte dropout masks); "
        "worst pipeline stage reported",
        "price": price_info,
        "energy": {
            "power_fraction_of_tdp": e.power_fraction_of_tdp,
            "board_power_w": board_power_w(sc.hardware, e)[0],
            "board_power": board_power_w(sc.hardware, e)[1],
            "pue": e.pue,
            "kg_co2_per_kwh": e.kg_co2_per_kwh,
            "usd_per_kwh": e.usd_per_kwh,
            "source": "GPU-hours × board power × PUE (Patterson et al. 2021; Llama 2 model card)",
        },
    }


def _memory_of(data: dict[str, Any]) -> tuple[float, float]:
    from estimator.scenario_io import scenario_from_dict

    mem = memory_per_gpu(scenario_from_dict(data))
    return float(mem.total), float(mem.capacity)


def _not_fitting(sc: Scenario, total: float, capacity: float) -> tuple[str, list[str]]:
    """The shortfall sentence and what would make `sc` fit."""
    data = sc.model_dump(mode="json", exclude={"plan"})
    return shortfall_text(total_bytes=total, capacity_bytes=capacity), fit_suggestions(data, _memory_of)


def stage_label(rank: int, pp: int) -> str:
    """ "only", "first", "last" or "k of pp" for a pipeline rank."""
    if pp == 1:
        return "only"
    return "first" if rank == 0 else "last" if rank == pp - 1 else f"{rank + 1} of {pp}"


def estimate_training(sc: Scenario, efficiencies: Efficiencies | None = None) -> TrainingEstimate:
    """Estimate parameters, FLOPs, memory, time, cost and energy of training `sc` (with the profile's
    efficiencies, or `efficiencies` to ask "what if the kernels ran faster or slower").

    A configuration that does not fit in memory gets no price (cost fields None) but its shortfall and
    the smallest changes that make it fit. A multi-phase run (`phases`) is the sum of its phases: the
    per-step figures are the longest phase's, the totals add up, memory is the worst phase's."""
    if not sc.phases:
        return _estimate_one(sc, efficiencies)
    from estimator.training.phases import phase_scenarios

    return combine_phases(sc, [(label, _estimate_one(p, efficiencies)) for label, p in phase_scenarios(sc)])


def combine_phases(sc: Scenario, parts: list[tuple[str, TrainingEstimate]]) -> TrainingEstimate:
    """One estimate from its phases' estimates."""
    main = max(parts, key=lambda item: item[1].tokens_per_step * item[1].steps)[1]
    worst = max(parts, key=lambda item: item[1].memory_per_gpu_bytes["total"])[1]
    ests = [e for _, e in parts]

    def total(key: str) -> float:
        return float(sum(getattr(e, key) for e in ests))

    def total_range(key: str) -> tuple[float, float]:
        return (float(sum(getattr(e, key)[0] for e in ests)), float(sum(getattr(e, key)[1] for e in ests)))

    priced = all(e.cost_usd is not None for e in ests)
    energy_costs = [e.energy_cost_usd for e in ests]
    summaries = [
        {
            "phase": label,
            "tokens": e.tokens_per_step * e.steps,
            "seq_len": e.assumptions["seq_len"],
            "global_batch": e.assumptions["global_batch"],
            "gpus": e.gpus,
            "steps": e.steps,
            "step_time_s": e.step_time_s,
            "train_time_s": e.train_time_s,
            "gpu_hours": e.gpu_hours,
            "cost_usd": e.cost_usd,
            "mfu": e.mfu,
            "memory_per_gpu_bytes": e.memory_per_gpu_bytes["total"],
            "fits_in_memory": e.fits_in_memory,
        }
        for label, e in parts
    ]
    return dataclasses.replace(
        main,
        scenario=sc.name,
        steps=sum(e.steps for e in ests),
        flops_model_total=total("flops_model_total"),
        flops_6nd_total=total("flops_6nd_total"),
        train_time_s=total("train_time_s"),
        train_time_s_range=total_range("train_time_s_range"),
        gpu_hours=total("gpu_hours"),
        gpu_hours_range=total_range("gpu_hours_range"),
        cost_usd=total("cost_usd") if priced else None,
        cost_usd_range=total_range("cost_usd_range") if priced else None,
        energy_kwh=total("energy_kwh"),
        co2_kg=total("co2_kg"),
        energy_cost_usd=float(sum(c for c in energy_costs if c is not None))
        if None not in energy_costs
        else None,
        memory_per_gpu_bytes=worst.memory_per_gpu_bytes,
        memory_stage=worst.memory_stage,
        activation_terms_bytes=worst.activation_terms_bytes,
        fits_in_memory=all(e.fits_in_memory for e in ests),
        memory_shortfall_bytes=max(e.memory_shortfall_bytes for e in ests),
        fit_suggestions=worst.fit_suggestions,
        phases=summaries,
        assumptions={
            **main.assumptions,
            "phases": f"{len(parts)} phases; per-step figures are the longest "
            "phase's, totals add every phase's, memory is the worst phase's",
        },
    )


def _estimate_one(sc: Scenario, efficiencies: Efficiencies | None = None) -> TrainingEstimate:
    """The estimate of one phase (the whole run when there are no phases)."""
    model, p = sc.model, sc.parallelism
    params = count_params(model)
    ev = evaluate(sc, efficiencies=efficiencies)
    mem, st = ev.memory, ev.step
    fits = bool(mem.fits)
    priced = not math.isnan(ev.usd_per_gpu_hour) and fits
    price_info = ev.price_info
    shortfall, suggestions = ("", []) if fits else _not_fitting(sc, float(mem.total), float(mem.capacity))
    if not fits:
        price_info = {**price_info, "not_priced": f"{NOT_PRICED}: {shortfall}"}
    steps = int(ev.steps)
    usd_kwh = sc.energy.usd_per_kwh
    est = TrainingEstimate(
        scenario=sc.name,
        model=model.name,
        hardware=sc.hardware.name,
        gpus=sc.gpus,
        dp=sc.dp,
        micro_batches=sc.micro_batches,
        tokens_per_step=float(ev.tokens_per_step),
        params_total=params.total,
        params_active=params.active,
        params_breakdown=params.as_dict(),
        flops_model_per_step=float(ev.flops_model_per_step),
        flops_hardware_per_step=float(ev.flops_hardware_per_step),
        flops_model_total=float(ev.flops_model_per_step) * steps,
        flops_6nd_total=float(training_flops_6nd(params=params.active, tokens=steps * ev.tokens_per_step)),
        flops_forward_per_sample=forward_breakdown(sample_ledger(sc, executed=False)),
        step_time_s=float(ev.step_s),
        step_time_s_range=(float(ev.step_s_low), float(ev.step_s_high)),
        time_breakdown_s={k: float(v) for k, v in st.as_dict().items()},
        tokens_per_s=float(ev.tokens_per_step / ev.step_s),
        tflops_per_gpu=float(ev.mfu) * st.efficiencies.peak_flops_per_s / 1e12,
        mfu=float(ev.mfu),
        hfu=float(ev.hfu),
        steps=steps,
        train_time_s=float(ev.train_s),
        train_time_s_range=(float(steps * ev.step_s_low), float(steps * ev.step_s_high)),
        gpu_hours=float(ev.gpu_hours),
        gpu_hours_range=(float(ev.gpu_hours_low), float(ev.gpu_hours_high)),
        cost_usd=float(ev.cost_usd) if priced else None,
        cost_usd_range=(float(ev.cost_usd_low), float(ev.cost_usd_high)) if priced else None,
        usd_per_gpu_hour=None if math.isnan(ev.usd_per_gpu_hour) else ev.usd_per_gpu_hour,
        energy_kwh=float(ev.energy_kwh),
        co2_kg=float(ev.co2_kg),
        energy_cost_usd=float(energy_cost_usd(energy_kwh=ev.energy_kwh, usd_per_kwh=usd_kwh))
        if usd_kwh is not None and fits
        else None,
        memory_per_gpu_bytes=mem.as_dict(),
        memory_capacity_bytes=mem.capacity,
        memory_stage=stage_label(int(mem.stage), p.pp),
        activation_terms_bytes=mem.activation_terms,
        fits_in_memory=fits,
        memory_shortfall_bytes=shortfall_bytes(
            total_bytes=float(mem.total), capacity_bytes=float(mem.capacity)
        ),
        fit_suggestions=suggestions,
        assumptions=_assumptions(sc, price_info, st, ev.range_note),
    )
    require_finite(
        est.to_json_dict(), "check the hardware profile's peaks, bandwidths and memory, and the workload"
    )
    return est
