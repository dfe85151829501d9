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
    "batching": "continuous batching with chunked prefill (engine.max_batch sequences, engine.token_budget "
    "tokens per step, decode first), a paged KV cache with recompute preemption (estimator.engine); without "
    "traffic, `batch` sequences decode together and TTFT is one prompt's prefill",
    "context": "decode time at the mean context (prompt + half the output); memory at the p95 prompt + p95 "
    "output",
    "beam_search": "k hypotheses per request in the batch and in the KV cache, prefill over k copies "
    "(Hugging Face "
    "generate); no prefix sharing",
    "pipeline": "pp stages run one after another for a token: pp adds memory, not speed, to one replica",
    "queueing": "with traffic: Poisson arrivals split evenly over replicas; the replica count is the "
    "smallest whose simulated p99 TTFT and TPOT meet the targets",
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
    load: dict[str, Any]  # under traffic: percentiles, goodput, KV use, replicas from the engine simulator
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
    ttft = float(prefill_time_s(sc, prompt_tokens=prompt, batch=req.hypotheses, eff=eff))  # 1st token too
    mem = serving_memory(sc, batch=batch, context=ctx_high, prompt=req.prompt_tokens.high)
    prefill_one = float(prefill_time_s(sc, prompt_tokens=prompt, batch=req.hypotheses, eff=eff))
    gpu_s_per_request = float(prefill_one + out * step.total / batch)  # replica-seconds each request occupies
    capacity = 1.0 / gpu_s_per_request  # requests/s of one replica kept busy
    load: dict[str, Any] = {}
    tpot = float(step.total)
    if traffic is not None:
        rate = traffic.rate_per_s
        load = serve_traffic(sc, rate, traffic.ttft_target_s, traffic.tpot_target_s, mem.fits)
        replicas = int(load["replicas"])
        batch = max(1, int(round(load["batch"])))
        seqs = batch * req.hypotheses
        ttft, tpot = load["ttft_s"]["p50"], load["tpot_s"]["p50"]
        capacity = load["capacity_per_s"]
        gpu_s_per_request = 1.0 / capacity
        meets_ttft = load["ttft_s"]["p99"] <= traffic.ttft_target_s
        meets_tpot = load["tpot_s"]["p99"] <= traffic.tpot_target_s
    else:
        replicas, rate, meets_ttft, meets_tpot = 1, capacity, None, None
    gpus = replicas * sc.gpus + int(load.get("prefill_gpus", 0))
    price = _price(sc)
    fits = mem.fits
    feasible = fits and load.get("slo_feasible", True)
    hourly = gpus * price if price and feasible else None  # no price for what does not fit or meet its SLO
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
        tpot_s=float(tpot),
        decode_breakdown_s={
            "weights": float(step.weights_s),
            "kv_cache": float(step.kv_s),
            "elementwise": float(step.elementwise_s),
            "tp_comm": float(step.tp_comm_s),
            "kernel_launches": float(step.overhead_s),
            "lm_head": float(step.logits_s),
        },
        hbm_floor_tpot_s=float(floor),
        tokens_per_s_per_gpu=float(seqs / (tpot if tpot > 0 else float(step.total)) / sc.gpus),
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
        load=load,
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
            **(
                {"not_priced": f"not priced: {load['slo_reason']}"}
                if fits and not load.get("slo_feasible", True)
                else {}
            ),
        },
    )
    require_finite(est.to_json_dict(), "check the hardware profile and the request sizes and traffic")
    return est


def serve_traffic(
    sc: InferenceScenario, rate: float, ttft_target: float, tpot_target: float, fits: bool
) -> dict[str, Any]:
    """The replicas a request rate needs and what its requests see, from the engine (estimator.engine):
    the fewest replicas whose simulated p99 TTFT and TPOT meet the targets (continuous batching, chunked
    prefill, paged KV cache), with p50/p90/p99 latencies, goodput and KV use at that count; with
    disaggregation, a prefill pool sized as M/D/1 servers and the KV transfer added to TTFT. Targets no
    replica count can meet (a decode step or a prefill slower than the target at any load) make the
    deployment infeasible: it gets no price, and the reason says what binds."""
    from estimator.engine import StepModel, md1_wait_s, replicas_for_slo, simulate, steady_state

    steps = StepModel.of(sc)
    req = sc.inference
    single_tpot = float(steps.decode_s[1]) * steps.spec_factor
    prefill_p95 = steps.prefill_alone_s(req.prompt_tokens.high)
    out: dict[str, Any] = {
        "speculative_tokens_per_step": sc.speculative.tokens_per_step if sc.speculative else 1.0
    }
    reasons = []
    if single_tpot > tpot_target:
        reasons.append(
            f"one sequence alone decodes at {single_tpot * 1e3:.1f} ms per token, above the "
            f"{tpot_target * 1e3:.1f} ms target: more tensor parallelism, narrower weights or a smaller model"
        )
    if sc.disaggregation is None and prefill_p95 > ttft_target:
        reasons.append(
            f"a p95 prompt alone takes {prefill_p95 * 1e3:.0f} ms to prefill, above the "
            f"{ttft_target * 1e3:.0f} "
            "ms TTFT target: more tensor parallelism or shorter prompts"
        )
    if not fits:
        reasons.append("one replica does not fit in memory")
    work = 1500 * (req.prompt_tokens.high / max(sc.engine.token_budget, 1) + 3)
    too_big = work > 200_000 or rate > 1e5
    if reasons or too_big:
        ss = steady_state(sc, steps, rate)
        pct = {"p50": ss["ttft_s"], "p90": ss["ttft_s"], "p99": ss["ttft_s"]}
        tpct = {"p50": ss["tpot_s"], "p90": ss["tpot_s"], "p99": ss["tpot_s"]}
        return {
            **out,
            "replicas": max(1, math.ceil(rate / max(ss["capacity_per_s"], 1e-12))),
            "batch": ss["batch"],
            "capacity_per_s": ss["capacity_per_s"],
            "ttft_s": pct,
            "tpot_s": tpct,
            "slo_feasible": not reasons,
            "slo_reason": "; ".join(reasons),
            "method": "closed form (the targets cannot be met, so no simulation)"
            if reasons
            else "closed form (prompts or rates this large would take the simulator too long)",
        }
    if sc.disaggregation is not None:
        return {**out, **_disaggregated(sc, steps, rate, ttft_target, tpot_target)}
    replicas, sim = replicas_for_slo(sc, rate, ttft_target_s=ttft_target, tpot_target_s=tpot_target)
    if sim is None:
        # what the requests see with that many replicas (next to no queueing): the latency floor that
        # still misses a target, reported as numbers rather than infinities
        floor = simulate(sc, rate_per_s=rate / replicas, requests=1500, steps=steps).percentiles()
        ttft99, tpot99 = floor["ttft_s"]["p99"], floor["tpot_s"]["p99"]
        ss = steady_state(sc, steps, rate)
        return {
            **out,
            "replicas": max(1, math.ceil(rate / max(ss["capacity_per_s"], 1e-12))),  # what the load needs
            "slo_feasible": False,
            "slo_reason": (
                f"no replica count (up to {replicas:,} tried) meets the p99 targets: even at {replicas:,}, "
                "with next to no "
                f"queueing, p99 TTFT is {ttft99 * 1e3:,.0f} ms (target {ttft_target * 1e3:,.0f} ms) and p99 "
                f"TPOT {tpot99 * 1e3:,.1f} ms (target {tpot_target * 1e3:,.1f} ms): the long prompts' "
                "prefill or the decode step binds — more tensor parallelism, a faster precision or shorter "
                "prompts"
            ),
            "batch": ss["batch"],
            "capacity_per_s": ss["capacity_per_s"],
            "ttft_s": floor["ttft_s"],
            "tpot_s": floor["tpot_s"],
            "method": "engine simulation at the largest replica count tried (the targets are not met)",
        }
    ss = steady_state(sc, steps, rate / replicas)
    percentiles = sim.percentiles()
    return {
        **out,
        "replicas": replicas,
        "batch": ss["batch"],
        "capacity_per_s": ss["capacity_per_s"],
        "ttft_s": percentiles["ttft_s"],
        "tpot_s": percentiles["tpot_s"],
        "e2e_s": percentiles["e2e_s"],
        "goodput_requests_per_s": sim.goodput(ttft_target, tpot_target) * replicas,
        "kv_utilisation": sim.kv_utilisation,
        "preemptions_per_request": sim.preemptions / len(sim.ttft_s),
        "slo_feasible": True,
        "slo_reason": "",
        "method": f"engine simulation of {len(sim.ttft_s)} Poisson arrivals per replica (estimator.engine)",
        "closed_form_md1_wait_s": md1_wait_s(rate / replicas, 1.0 / max(ss["capacity_per_s"], 1e-12)),
    }


def _disaggregated(
    sc: InferenceScenario, steps: Any, rate: float, ttft_target: float, tpot_target: float
) -> dict[str, Any]:
    """Prefill/decode disaggregation (DistServe, Zhong et al. 2024): prompts run on a prefill pool (each
    replica an M/D/1 server of one prompt at a time), the KV cache moves to a decode replica over the
    network, decode replicas batch without prefill interference."""
    from estimator.engine import md1_wait_s, steady_state
    from estimator.inference import kv_bytes_per_sequence

    d = sc.disaggregation
    assert d is not None
    req = sc.inference
    prefill = steps.prefill_alone_s(req.prompt_tokens.mean)
    bandwidth = (d.kv_transfer_gb_per_s or sc.hardware.inter_node_bandwidth_bytes_per_s / 1e9) * 1e9
    transfer = kv_bytes_per_sequence(sc, req.prompt_tokens.mean) * sc.gpus / bandwidth
    pools = max(d.prefill_replicas, math.ceil(rate * prefill / 0.8))
    wait = md1_wait_s(rate / pools, prefill)
    ttft = prefill + wait + transfer
    decode_only = sc.model_copy(update={"inference": req})
    ss = steady_state(decode_only, steps, 0.0)
    m = sc.engine.max_batch
    context = req.prompt_tokens.mean + req.output_tokens.mean / 2
    step_full = float(steps.decode_s[m]) * steps.spec_factor + steps.kv_s_per_token * m * context
    per_replica = m / (req.output_tokens.mean * step_full)
    replicas = max(1, math.ceil(rate / (per_replica * 0.8)))
    ss = steady_state(decode_only, steps, rate / replicas)
    tpot = ss["step_s"] - steps.prefill_extra_s(rate / replicas * req.prompt_tokens.mean * ss["step_s"])
    ok = ttft <= ttft_target and tpot <= tpot_target
    flat = {"p50": ttft, "p90": ttft, "p99": ttft}
    return {
        "replicas": replicas,
        "prefill_replicas": pools,
        "prefill_gpus": pools * sc.gpus,
        "batch": ss["batch"],
        "capacity_per_s": per_replica,
        "ttft_s": flat,
        "tpot_s": {"p50": tpot, "p90": tpot, "p99": tpot},
        "kv_transfer_s": transfer,
        "slo_feasible": ok,
        "slo_reason": "" if ok else "the disaggregated TTFT or TPOT misses its target",
        "method": "closed form: M/D/1 prefill pool, KV transfer over the network, decode without prefill",
    }


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
