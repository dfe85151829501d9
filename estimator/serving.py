"""Sizing a deployment for traffic: the batch that meets the per-token latency target, a replica's
capacity with continuous batching, replicas and GPUs needed, dollars per million tokens and per month."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict

from estimator.cost import board_power_w, energy_cost_usd, energy_kwh
from estimator.errors import require_finite
from estimator.feasibility import NOT_PRICED, shortfall_bytes, shortfall_text
from estimator.inference import (
    decode_step,
    efficiencies,
    max_batch,
    max_context,
    prefill_time_s,
    serving_memory,
)
from estimator.params import count_params
from estimator.specs.inference import STORE_BYTES, InferenceScenario
from estimator.units import HOURS_PER_MONTH, fmt_bytes

ASSUMPTIONS = {
    "engine": "an optimised engine (CUDA graphs, fused kernels, FlashAttention, continuous batching as in "
    "vLLM "
    "or TensorRT-LLM); eager PyTorch decode is launch-bound and slower",
    "batching": "continuous: `batch` sequences decode together; each request's prefill runs on its own, "
    "between "
    "decode steps (no chunked-prefill overlap)",
    "context": "decode time at the mean context (prompt + half the output); memory at the p95 prompt + p95 "
    "output",
    "beam_search": "k hypotheses per request in the batch and in the KV cache, prefill over k copies "
    "(Hugging Face "
    "generate); no prefix sharing",
    "pipeline": "pp stages run one after another for a token: pp adds memory, not speed, to one replica",
    "queueing": "replicas run at most `max_utilisation` busy to keep time-to-first-token near its no-queue "
    "value",
}


class InferenceEstimate(BaseModel):
    """Serving estimate: per-request latency, memory, capacity, and the cost of the traffic (SI units)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario: str
    model: str
    hardware: str
    gpus_per_replica: int
    batch: int
    sequences_per_step: int
    ttft_s: float
    tpot_s: float
    decode_breakdown_s: dict[str, float]
    hbm_floor_tpot_s: float
    tokens_per_s_per_gpu: float
    kv_cache_bytes: float
    weights_bytes: float
    memory_per_gpu_bytes: dict[str, float]
    fits_in_memory: bool
    max_batch: int
    max_context_tokens: int
    replicas: int
    gpus_needed: int
    utilisation: float
    meets_ttft_target: bool | None
    meets_tpot_target: bool | None
    usd_per_million_tokens: float | None
    usd_per_million_input_tokens: float | None
    usd_per_million_output_tokens: float | None
    monthly_cost_usd: float | None
    energy_kwh_per_month: float
    energy_cost_usd_per_month: float | None
    memory_shortfall_bytes: float
    fit_suggestions: list[str]
    assumptions: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _price(sc: InferenceScenario) -> float | None:
    if sc.pricing.usd_per_gpu_hour is not None:
        return sc.pricing.usd_per_gpu_hour
    return sc.hardware.default_price.usd_per_gpu_hour if sc.hardware.default_price else None


def _batch_for_target(sc: InferenceScenario, limit: int, context: float, target: float) -> int:
    """Largest batch ≤ `limit` whose decode step meets the per-token target (decode time grows with batch)."""
    eff = efficiencies(sc)
    k = sc.inference.hypotheses
    lo, hi = 1, max(limit, 1)
    if decode_step(sc, sequences=k, context=context, eff=eff).total > target:
        return 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (
            (mid, hi)
            if decode_step(sc, sequences=mid * k, context=context, eff=eff).total <= target
            else (lo, mid - 1)
        )
    return lo


def estimate_inference(sc: InferenceScenario) -> InferenceEstimate:
    """Latency, memory and cost of serving `sc` (sized to its traffic when it has one)."""
    req, eff, p = sc.inference, efficiencies(sc), sc.parallelism
    prompt, out = req.prompt_tokens.mean, req.output_tokens.mean
    ctx_mean, ctx_high = prompt + out / 2, req.prompt_tokens.high + req.output_tokens.high
    fit_batch = max_batch(sc, context=ctx_high, prompt=req.prompt_tokens.high)
    traffic = sc.traffic
    batch = (
        req.batch if traffic is None else _batch_for_target(sc, fit_batch, ctx_mean, traffic.tpot_target_s)
    )
    seqs = batch * req.hypotheses
    step = decode_step(sc, sequences=seqs, context=ctx_mean, eff=eff)
    ttft = prefill_time_s(sc, prompt_tokens=prompt, batch=req.hypotheses, eff=eff) + step.total
    mem = serving_memory(sc, batch=batch, context=ctx_high, prompt=req.prompt_tokens.high)
    prefill_one = prefill_time_s(sc, prompt_tokens=prompt, batch=req.hypotheses, eff=eff)
    gpu_s_per_request = float(prefill_one + out * step.total / batch)  # replica-seconds each request occupies
    capacity = 1.0 / gpu_s_per_request  # requests/s of one replica kept busy
    if traffic is not None:
        replicas = max(1, math.ceil(traffic.rate_per_s / (capacity * traffic.max_utilisation)))
        rate = traffic.rate_per_s
        ttft_high = (
            prefill_time_s(sc, prompt_tokens=req.prompt_tokens.high, batch=req.hypotheses, eff=eff)
            + step.total
        )
        meets_ttft, meets_tpot = ttft_high <= traffic.ttft_target_s, step.total <= traffic.tpot_target_s
    else:
        replicas, rate, meets_ttft, meets_tpot = 1, capacity, None, None
    gpus = replicas * sc.gpus
    price = _price(sc)
    fits = mem.fits
    hourly = gpus * price if price and fits else None  # a replica that does not fit gets no price
    tokens_in_h, tokens_out_h = rate * 3600 * prompt, rate * 3600 * out
    share_prefill = prefill_one / gpu_s_per_request
    busy = rate / (replicas * capacity)
    kwh_month = energy_kwh(
        gpu_hours=gpus * HOURS_PER_MONTH,
        board_power_w=board_power_w(sc.hardware, sc.energy)[0],
        power_fraction=1.0,
        pue=sc.energy.pue,
    )
    floor = sc.weight_bytes * count_active_read(sc) / (p.tp * sc.hardware.memory_bandwidth_bytes_per_s)
    est = InferenceEstimate(
        scenario=sc.name,
        model=sc.model.name,
        hardware=sc.hardware.name,
        gpus_per_replica=sc.gpus,
        batch=batch,
        sequences_per_step=seqs,
        ttft_s=float(ttft),
        tpot_s=float(step.total),
        decode_breakdown_s={
            "weights": float(step.weights_s),
            "kv_cache": float(step.kv_s),
            "elementwise": float(step.elementwise_s),
            "tp_comm": float(step.tp_comm_s),
            "kernel_launches": float(step.overhead_s),
            "lm_head": float(step.logits_s),
        },
        hbm_floor_tpot_s=float(floor),
        tokens_per_s_per_gpu=float(seqs / step.total / sc.gpus),
        kv_cache_bytes=mem.kv_cache,
        weights_bytes=mem.weights,
        memory_per_gpu_bytes={
            "weights": mem.weights,
            "kv_cache": mem.kv_cache,
            "activations": mem.activations,
            "other": mem.other,
            "total": mem.total,
        },
        fits_in_memory=mem.fits,
        max_batch=fit_batch,
        max_context_tokens=min(
            max_context(sc, batch=batch, prompt=req.prompt_tokens.high), sc.model.max_seq_len
        ),
        replicas=replicas,
        gpus_needed=gpus,
        utilisation=float(busy),
        meets_ttft_target=meets_ttft,
        meets_tpot_target=meets_tpot,
        usd_per_million_tokens=hourly / (tokens_in_h + tokens_out_h) * 1e6 if hourly else None,
        usd_per_million_input_tokens=hourly * share_prefill / tokens_in_h * 1e6 if hourly else None,
        usd_per_million_output_tokens=hourly * (1 - share_prefill) / tokens_out_h * 1e6 if hourly else None,
        monthly_cost_usd=hourly * HOURS_PER_MONTH if hourly else None,
        energy_kwh_per_month=kwh_month,
        energy_cost_usd_per_month=(
            energy_cost_usd(energy_kwh=kwh_month, usd_per_kwh=sc.energy.usd_per_kwh)
            if sc.energy.usd_per_kwh is not None and fits
            else None
        ),
        memory_shortfall_bytes=shortfall_bytes(total_bytes=mem.total, capacity_bytes=mem.capacity),
        fit_suggestions=[] if fits else serving_fit_suggestions(sc, batch),
        assumptions={
            **ASSUMPTIONS,
            "price": {
                "usd_per_gpu_hour": price,
                "source": "scenario"
                if sc.pricing.usd_per_gpu_hour
                else (sc.hardware.default_price.model_dump() if sc.hardware.default_price else None),
            },
            "weights_dtype": sc.quantisation.weights or sc.precision,
            "kv_cache_dtype": sc.quantisation.kv_cache or sc.precision,
            "compute_dtype": sc.precision,
            "efficiencies": {"gemm_max": eff.gemm_max, "memory_bandwidth": eff.memory},
            "mean_prompt_tokens": prompt,
            "mean_output_tokens": out,
            **(
                {}
                if fits
                else {
                    "not_priced": f"{NOT_PRICED}: "
                    + shortfall_text(total_bytes=mem.total, capacity_bytes=mem.capacity)
                }
            ),
        },
    )
    require_finite(est.to_json_dict(), "check the hardware profile and the request sizes and traffic")
    return est


def serving_fit_suggestions(sc: InferenceScenario, batch: int, limit: int = 3) -> list[str]:
    """Single changes after which one replica fits: narrower weights or KV cache, more tensor parallelism
    (inside a node), a smaller batch. Each is a re-validated scenario whose memory was computed."""
    req = sc.inference
    data = sc.model_dump(mode="json", exclude_none=True)
    candidates: list[tuple[str, dict[str, Any]]] = []
    for store in ("fp8", "int8", "int4"):
        if STORE_BYTES[store] < sc.weight_bytes:
            candidates.append(
                (
                    f"quantisation.weights: {store}",
                    {**data, "quantisation": {**data.get("quantisation", {}), "weights": store}},
                )
            )
    if sc.kv_bytes > 1:
        candidates.append(
            (
                "quantisation.kv_cache: fp8",
                {**data, "quantisation": {**data.get("quantisation", {}), "kv_cache": "fp8"}},
            )
        )
    tp = sc.parallelism.tp
    for factor in (2, 4, 8):
        if tp * factor <= sc.hardware.gpus_per_node:
            candidates.append(
                (
                    f"parallelism.tp: {tp * factor}",
                    {
                        **data,
                        "gpus": tp * factor * sc.parallelism.pp,
                        "parallelism": {"tp": tp * factor, "pp": sc.parallelism.pp},
                    },
                )
            )
    if batch > 1:
        candidates.append(("inference.batch: 1", {**data, "inference": {**data["inference"], "batch": 1}}))
    out = []
    for label, cand in candidates:
        try:
            other = InferenceScenario.model_validate(cand)
        except ValueError:
            continue
        b = 1 if label == "inference.batch: 1" else batch
        mem = serving_memory(
            other,
            batch=b,
            context=req.prompt_tokens.high + req.output_tokens.high,
            prompt=req.prompt_tokens.high,
        )
        if mem.fits:
            out.append(f"{label} → {fmt_bytes(mem.total)} per GPU of {fmt_bytes(mem.capacity)}")
            if len(out) >= limit:
                break
    return out


def count_active_read(sc: InferenceScenario) -> float:
    """Parameters one decode step must read at batch 1 (all but the routed experts not chosen)."""
    return float(count_params(sc.model).active)


def latency_vs_batch(
    sc: InferenceScenario, batches: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256)
) -> list[dict[str, float]]:
    """Time per output token and throughput per GPU at each batch that fits (decode at the mean context)."""
    req = sc.inference
    ctx = req.prompt_tokens.mean + req.output_tokens.mean / 2
    limit = max_batch(
        sc, context=req.prompt_tokens.high + req.output_tokens.high, prompt=req.prompt_tokens.high
    )
    eff = efficiencies(sc)
    rows = []
    for b in batches:
        if b > max(limit, 1):
            break
        step = decode_step(sc, sequences=b * req.hypotheses, context=ctx, eff=eff).total
        rows.append(
            {
                "batch": float(b),
                "tpot_s": float(step),
                "tokens_per_s_per_gpu": float(b * req.hypotheses / step / sc.gpus),
            }
        )
    return rows
