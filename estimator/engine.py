"""A serving engine as it runs: continuous batching with chunked prefill, a paged KV cache, preemption, and
the latency percentiles, throughput and goodput a request stream gets from it.

The step time comes from the ledger (estimator.inference): a decode step of n sequences reading c cached
tokens costs T0(n) + e·c — T0 the roofline of the weights, compute, collectives and the per-step cost,
e the KV bytes per cached token over the attention kernels' bandwidth — and a step that also prefills p
prompt tokens adds what those tokens compute beyond the weight reads the step pays anyway (prefilling
with the decode batch is compute-bound; alone, a short prompt is weight-bound). `StepModel` tabulates
these once; `simulate` then runs requests through the engine event by event, fast-forwarding the decode
steps between arrivals and completions, so 10⁵ requests take seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from estimator.specs.inference import Distribution, InferenceScenario


@dataclass(frozen=True)
class StepModel:
    """Engine step time of one replica: `decode_s[n]` for n decoding sequences at zero context,
    `kv_s_per_token` for each cached token they read, `prefill_extra_s(p)` for p prompt tokens prefilled in
    the same step, `prefill_alone_s(p)` when they are the step's only work."""

    decode_s: np.ndarray
    kv_s_per_token: float
    prefill_grid: np.ndarray
    prefill_alone: np.ndarray
    weights_s: float
    overhead_s: float
    spec_factor: float = 1.0  # target steps per output token with speculative decoding (1 without)

    @classmethod
    def of(cls, sc: InferenceScenario) -> StepModel:
        from estimator.inference import decode_step, efficiencies, prefill_time_s

        eff = efficiencies(sc)
        n_max = sc.engine.max_batch
        n = np.arange(0, n_max + 1, dtype=float)
        n[0] = 1.0
        base = decode_step(sc, sequences=n, context=0.0, eff=eff)
        decode = np.asarray(base.total, dtype=float) * np.ones_like(n)
        decode[0] = 0.0
        at = decode_step(sc, sequences=1.0, context=4096.0, eff=eff).total
        kv = max(float(at) - float(decode[1]), 0.0) / 4096.0
        budget = max(sc.engine.token_budget, 16)
        grid = np.unique(np.geomspace(1, max(budget, 32768), 48).round())
        alone = np.array([float(prefill_time_s(sc, prompt_tokens=float(p), batch=1, eff=eff)) for p in grid])
        factor = 1.0
        if sc.speculative is not None:
            factor = speculative_step_factor(sc, eff)
        return cls(
            decode,
            kv,
            grid,
            alone,
            float(base.weights_s if np.ndim(base.weights_s) == 0 else np.asarray(base.weights_s)[1]),
            float(eff.prefill_overhead_s),
            factor,
        )

    def prefill_alone_s(self, tokens: float) -> float:
        return float(np.interp(tokens, self.prefill_grid, self.prefill_alone))

    def prefill_extra_s(self, tokens: float) -> float:
        """What `tokens` prompt tokens add to a step that reads the weights anyway: their prefill less a
        one-token prefill (whose weight reads, LM head and fixed costs the decode step already pays)."""
        if tokens <= 0:
            return 0.0
        return max(self.prefill_alone_s(tokens) - self.prefill_alone_s(1.0), 0.0)

    def step_s(self, decoding: int, cached: float, prefill_tokens: float) -> float:
        if decoding == 0:
            return self.prefill_alone_s(prefill_tokens) if prefill_tokens > 0 else 0.0
        t = self.decode_s[decoding] * self.spec_factor + self.kv_s_per_token * cached
        return float(t + self.prefill_extra_s(prefill_tokens))


def speculative_step_factor(sc: InferenceScenario, eff: Any) -> float:
    """Target-step time per output token with speculative decoding, relative to plain decode at batch 1:
    each step drafts k tokens (a draft model's decode steps, or heads at `draft_cost` of a target step
    each), verifies k + 1 positions in one target pass, and emits (1 − α^(k+1))/(1 − α) tokens on average
    (Leviathan et al. 2023)."""
    from estimator.inference import decode_step, prefill_time_s

    spec = sc.speculative
    assert spec is not None
    plain = float(decode_step(sc, sequences=1, context=1024, eff=eff).total)
    verify = float(prefill_time_s(sc, prompt_tokens=spec.k + 1, batch=1, eff=eff))
    if spec.draft_model:
        draft_sc = sc.model_copy(update={"model": _preset(spec.draft_model), "speculative": None})
        draft = spec.k * float(decode_step(draft_sc, sequences=1, context=1024).total)
    else:
        draft = spec.k * spec.draft_cost * plain
    return (verify + draft) / spec.tokens_per_step / plain


def _preset(name: str) -> Any:
    from estimator.presets import get_model

    return get_model(name)


# ----------------------------------------------------------------------------------------------- requests


def sample_lengths(dist: Distribution, n: int, rng: np.random.Generator) -> np.ndarray:
    """n token lengths drawn from `dist` (at least 1 token each)."""
    shape = dist.shape
    if shape == "fixed":
        out = np.full(n, dist.mean)
    elif shape == "uniform":
        out = rng.uniform(dist.low or dist.mean, dist.high_bound or dist.mean, n)
    elif shape == "histogram":
        w = np.asarray(dist.weights, dtype=float)
        out = rng.choice(np.asarray(dist.values, dtype=float), size=n, p=w / w.sum())
    else:  # lognormal with the given mean and 95th percentile
        sigma = lognormal_sigma(dist.mean, dist.high)
        mu = math.log(dist.mean) - sigma**2 / 2
        out = rng.lognormal(mu, sigma, n)
    return np.maximum(np.round(out), 1.0)


def lognormal_sigma(mean: float, p95: float) -> float:
    """σ of the lognormal whose mean is `mean` and 95th percentile `p95`: ln p95 = ln mean − σ²/2 + 1.645σ,
    the smaller root (0 when p95 ≤ mean)."""
    z, gap = 1.6448536269514722, math.log(max(p95, mean) / mean)
    disc = z * z - 2 * gap
    return z - math.sqrt(disc) if disc >= 0 else z


@dataclass
class _Request:
    index: int
    arrival: float
    prompt: int
    output: int
    prefilled: int = 0
    generated: int = 0
    first_token: float = math.nan
    finish: float = math.nan
    admitted_order: int = 0
    extra: int = 0  # generated tokens to prefill again after a preemption (recompute)


@dataclass(frozen=True)
class SimulationResult:
    """Per-request latencies (seconds) and the engine's throughput over the run."""

    ttft_s: np.ndarray
    tpot_s: np.ndarray
    e2e_s: np.ndarray
    output_tokens: np.ndarray
    duration_s: float
    kv_utilisation: float
    preemptions: int
    extras: dict[str, Any] = field(default_factory=dict)

    def percentiles(self, q: tuple[float, ...] = (50, 90, 99)) -> dict[str, dict[str, float]]:
        """Latency percentiles (TPOT is 0 when no request decodes past its first token)."""
        out = {}
        for name, values in (("ttft_s", self.ttft_s), ("tpot_s", self.tpot_s), ("e2e_s", self.e2e_s)):
            known = values[~np.isnan(values)]
            out[name] = {f"p{int(p)}": float(np.percentile(known, p)) if known.size else 0.0 for p in q}
        return out

    @property
    def throughput_tokens_per_s(self) -> float:
        return float(self.output_tokens.sum() / self.duration_s)

    @property
    def requests_per_s(self) -> float:
        return float(len(self.ttft_s) / self.duration_s)

    @property
    def steady_requests_per_s(self) -> float:
        """Completions per second between the 20th and the 80th percent of completions (no ramp, no drain)."""
        done = np.sort(self.extras["finish_s"])
        a, b = int(0.2 * len(done)), int(0.8 * len(done))
        return float((b - a) / max(done[b] - done[a], 1e-12))

    def goodput(self, ttft_target_s: float, tpot_target_s: float) -> float:
        """Requests per second that met both targets (DistServe's goodput)."""
        ok = (self.ttft_s <= ttft_target_s) & ((self.tpot_s <= tpot_target_s) | np.isnan(self.tpot_s))
        return float(ok.sum() / self.duration_s)


class _Engine:
    """The state of one replica while requests run through it (see `simulate`)."""

    def __init__(self, sc: InferenceScenario, steps: StepModel, pending: list[_Request], kv_tokens: int):
        eng = sc.engine
        self.steps, self.pending = steps, pending
        self.max_batch, self.block = eng.max_batch, eng.block_size
        self.chunked = eng.chunked_prefill
        self.budget = eng.token_budget if eng.chunked_prefill else 10**12
        self.blocks_total = max(kv_tokens // eng.block_size, 1)
        self.waiting: list[_Request] = []
        self.running: list[_Request] = []
        self.t, self.next, self.order, self.done, self.preemptions = 0.0, 0, 0, 0, 0
        self.kv_time = 0.0

    def blocks_for(self, r: _Request) -> int:
        return -(-(r.prompt + r.generated + 1) // self.block)

    def blocks_used(self) -> int:
        return sum(self.blocks_for(r) for r in self.running)

    def arrive(self) -> None:
        while self.next < len(self.pending) and self.pending[self.next].arrival <= self.t:
            self.waiting.append(self.pending[self.next])
            self.next += 1

    def admit(self) -> None:
        """First come, first served, while a sequence slot and KV blocks for the prompt are free."""
        used = self.blocks_used()
        while self.waiting and len(self.running) < self.max_batch:
            need = self.blocks_for(self.waiting[0])
            if used + need > self.blocks_total and self.running:
                break
            r = self.waiting.pop(0)
            used += need
            self.order += 1
            r.admitted_order = self.order
            self.running.append(r)

    def plan(self) -> tuple[list[_Request], list[tuple[_Request, int]]]:
        """This step's decoding sequences and prompt chunks (decode tokens take the budget first)."""
        decoding = [r for r in self.running if r.prefilled >= r.prompt + r.extra]
        left = max(self.budget - len(decoding), 0)
        chunks: list[tuple[_Request, int]] = []
        for r in self.running:
            if r in decoding:
                continue
            if left <= 0 and decoding:
                break
            todo = r.prompt + r.extra - r.prefilled
            take = min(todo, max(left, 1)) if self.chunked else todo
            chunks.append((r, take))
            left -= take
        return decoding, chunks

    def run_length(self, decoding: list[_Request], cached: float) -> int:
        """Identical decode steps to take at once: until the first completion, the KV cache filling, or
        the next arrival."""
        k = min(r.output - r.generated for r in decoding)
        free = self.blocks_total - self.blocks_used()
        k = min(k, max(1, free * self.block // max(len(decoding), 1)))
        if self.next < len(self.pending):
            gap = self.pending[self.next].arrival - self.t
            k = min(k, _steps_until(self.steps, len(decoding), cached, gap))
        return max(k, 1)

    def step(self) -> None:
        decoding, chunks = self.plan()
        cached = float(sum(r.prompt + r.generated for r in decoding))
        prefill = sum(c for _, c in chunks)
        steps = self.steps
        k = 1
        if decoding and not chunks and (not self.waiting or len(self.running) >= self.max_batch):
            k = self.run_length(decoding, cached)
        if k > 1:
            m = len(decoding)
            dt = k * float(steps.decode_s[m]) * steps.spec_factor + steps.kv_s_per_token * (
                k * cached + m * k * (k - 1) / 2
            )
        else:
            dt = steps.step_s(len(decoding), cached, prefill)
        self.kv_time += dt * self.blocks_used() / self.blocks_total
        self.t += dt
        for r, take in chunks:
            r.prefilled += take
            if r.prefilled >= r.prompt + r.extra:
                if math.isnan(r.first_token):  # the step that ends the prompt samples the first token
                    r.first_token, r.generated = self.t, 1
                r.prefilled, r.extra = r.prompt + r.generated, 0
        for r in decoding:
            r.generated += k
        for r in [r for r in self.running if r.generated >= r.output]:
            r.finish = self.t
            self.running.remove(r)
            self.done += 1
        self.preempt()

    def preempt(self) -> None:
        """Recompute preemption: while the KV cache overflows, the newest sequence gives its blocks back and
        waits to be prefilled again, prompt and generated tokens together (vLLM)."""
        while self.blocks_used() > self.blocks_total and len(self.running) > 1:
            victim = max(self.running, key=lambda r: r.admitted_order)
            self.running.remove(victim)
            victim.prefilled, victim.extra = 0, victim.generated
            self.waiting.insert(0, victim)
            self.preemptions += 1

    def run(self) -> None:
        while self.done < len(self.pending):
            self.arrive()
            if not self.running and not self.waiting:
                self.t = self.pending[self.next].arrival
                continue
            self.admit()
            self.step()


def simulate(
    sc: InferenceScenario,
    *,
    rate_per_s: float,
    requests: int = 2000,
    seed: int = 0,
    steps: StepModel | None = None,
    kv_tokens: int | None = None,
    arrivals: np.ndarray | None = None,
) -> SimulationResult:
    """Run `requests` Poisson arrivals at `rate_per_s` (or the given `arrivals` times) through one replica.

    Each step: admit waiting requests while a sequence slot and KV blocks for the prompt are free; decode
    one token for every running sequence whose prompt is done; spend what is left of the token budget on
    prompt chunks (the step that finishes a prompt also samples its first token); when the KV cache has
    no block for a growing sequence, preempt the most recently admitted one (its KV is dropped and it is
    prefilled again later, prompt and generated tokens together, as vLLM's recompute preemption)."""
    rng = np.random.default_rng(seed)
    steps = steps or StepModel.of(sc)
    req = sc.inference
    times = (
        np.asarray(arrivals, dtype=float)
        if arrivals is not None
        else np.cumsum(rng.exponential(1.0 / rate_per_s, requests))
    )
    n = len(times)
    prompts = sample_lengths(req.prompt_tokens, n, rng).astype(int)
    outputs = sample_lengths(req.output_tokens, n, rng).astype(int)
    pending = [_Request(i, float(times[i]), int(prompts[i]), int(outputs[i])) for i in range(n)]
    engine = _Engine(sc, steps, pending, kv_tokens if kv_tokens is not None else kv_capacity_tokens(sc))
    engine.run()
    arrival = np.array([r.arrival for r in pending])
    first = np.array([r.first_token for r in pending])
    finish = np.array([r.finish for r in pending])
    out = np.array([r.output for r in pending], dtype=float)
    tpot = np.where(out > 1, (finish - first) / np.maximum(out - 1, 1), np.nan)
    return SimulationResult(
        first - arrival,
        tpot,
        finish - arrival,
        out,
        float(finish.max() - arrival.min()),
        engine.kv_time / max(engine.t - arrival.min(), 1e-12),
        engine.preemptions,
        {"finish_s": finish, "arrival_s": arrival},
    )


def _steps_until(steps: StepModel, m: int, cached: float, gap: float) -> int:
    """Decode steps of m sequences until `gap` seconds have passed (the step that crosses it included):
    the step times grow linearly with the cached tokens, so the elapsed time is quadratic in the count."""
    if gap <= 0:
        return 1
    a = steps.kv_s_per_token * m / 2
    b = float(steps.decode_s[m]) * steps.spec_factor + steps.kv_s_per_token * cached - a
    if a <= 0:
        return max(1, math.ceil(gap / max(b, 1e-12)))
    root = (-b + math.sqrt(b * b + 4 * a * gap)) / (2 * a)
    return max(1, math.ceil(root))


def kv_capacity_tokens(sc: InferenceScenario) -> int:
    """Tokens the replica's KV cache holds: memory left after weights, activations and overhead, over the
    KV bytes of one token (every layer, this GPU's share)."""
    from estimator.inference import kv_bytes_per_sequence, serving_memory

    req = sc.inference
    base = serving_memory(sc, batch=0, context=0.0, prompt=req.prompt_tokens.high)
    per_token = kv_bytes_per_sequence(sc, 1.0)
    return max(int((base.capacity - base.total) // per_token), 0) if per_token > 0 else 10**12


# ------------------------------------------------------------------------------------------- closed forms


def steady_state(sc: InferenceScenario, steps: StepModel, rate_per_s: float) -> dict[str, float]:
    """The closed-form engine at a request rate: the batch B by Little's law (B = λ · output · step), the
    mean step time with the prefill chunks it carries (λ · prompt tokens per second), TPOT = step time, and
    TTFT = the prefill plus half a step of waiting for the running one. `capacity` is the request rate at
    which B reaches max_batch (or the step saturates); above it the engine queues without bound."""
    req, eng = sc.inference, sc.engine
    prompt, out = req.prompt_tokens.mean, req.output_tokens.mean
    # a decoding sequence is, on average over steps, E[O²]/(2·E[O]) tokens into its output (long outputs
    # occupy more steps: the renewal-reward mean), not E[O]/2
    draws = sample_lengths(req.output_tokens, 20_000, np.random.default_rng(0))
    context = prompt + float((draws**2).mean() / (2 * draws.mean()))
    batch = 1.0
    step = 0.0
    for _ in range(60):  # fixed point of B = λ·out·step(B)
        m = int(min(max(round(batch), 1), eng.max_batch))
        step = float(steps.decode_s[m]) * steps.spec_factor + steps.kv_s_per_token * m * context
        prefill_per_step = rate_per_s * prompt * step
        step = step + steps.prefill_extra_s(prefill_per_step)
        new = min(rate_per_s * out * step, eng.max_batch)
        if abs(new - batch) < 1e-6:
            break
        batch = 0.5 * (batch + new)
    m = eng.max_batch
    full = float(steps.decode_s[m]) * steps.spec_factor + steps.kv_s_per_token * m * context
    capacity = m / (out * full + m * steps.prefill_extra_s(prompt) + 1e-12)
    busy = min(rate_per_s / capacity, 1.0)
    ttft = (
        steps.prefill_alone_s(prompt) if batch <= 1.0 + 1e-9 else steps.prefill_extra_s(prompt) + 1.5 * step
    )
    return {
        "batch": batch,
        "step_s": step,
        "tpot_s": step,
        "ttft_s": ttft,
        "capacity_per_s": capacity,
        "busy": busy,
    }


def md1_wait_s(rate_per_s: float, service_s: float) -> float:
    """Mean wait in queue of an M/D/1 server: ρS / (2(1 − ρ)) (Pollaczek–Khinchine with zero variance)."""
    rho = rate_per_s * service_s
    return math.inf if rho >= 1 else rho * service_s / (2 * (1 - rho))


def replicas_for_slo(
    sc: InferenceScenario,
    rate_per_s: float,
    *,
    ttft_target_s: float,
    tpot_target_s: float,
    quantile: float = 99,
    requests: int = 1500,
    max_replicas: int = 10_000,
) -> tuple[int, SimulationResult | None]:
    """The fewest replicas whose simulated `quantile` TTFT and TPOT meet the targets when the traffic is
    split evenly (each replica sees rate/R); starting from the closed-form estimate."""
    steps = StepModel.of(sc)
    ss = steady_state(sc, steps, rate_per_s)
    guess = max(1, math.ceil(rate_per_s / max(ss["capacity_per_s"] * 0.9, 1e-12)))
    best: tuple[int, SimulationResult | None] = (guess, None)
    lo, hi = 1, max(guess, 1)
    # grow hi until it meets the SLO, then bisect down
    for _ in range(40):
        res = simulate(sc, rate_per_s=rate_per_s / hi, requests=requests, steps=steps)
        if _meets(res, ttft_target_s, tpot_target_s, quantile):
            best = (hi, res)
            break
        lo, hi = hi + 1, min(hi * 2, max_replicas)
        if lo > max_replicas:
            return max_replicas, None
    while lo < best[0]:
        mid = (lo + best[0]) // 2
        res = simulate(sc, rate_per_s=rate_per_s / mid, requests=requests, steps=steps)
        if _meets(res, ttft_target_s, tpot_target_s, quantile):
            best = (mid, res)
        else:
            lo = mid + 1
    return best


def _meets(res: SimulationResult, ttft: float, tpot: float, q: float) -> bool:
    pct = res.percentiles((q,))
    return bool(pct["ttft_s"][f"p{int(q)}"] <= ttft and pct["tpot_s"][f"p{int(q)}"] <= tpot)


def latency_vs_rate(
    sc: InferenceScenario, *, points: int = 8, requests: int = 600, seed: int = 0
) -> list[dict[str, float]]:
    """p50/p99 TTFT and TPOT of one replica from 10 % to 110 % of its closed-form capacity (simulated)."""
    steps = StepModel.of(sc)
    capacity = steady_state(sc, steps, 1.0)["capacity_per_s"]
    rows = []
    for share in np.linspace(0.1, 1.1, points):
        rate = float(share * capacity)
        res = simulate(sc, rate_per_s=rate, requests=requests, seed=seed, steps=steps)
        pct = res.percentiles((50, 99))
        rows.append(
            {
                "rate_per_s": rate,
                "load": float(share),
                "ttft_p50_s": pct["ttft_s"]["p50"],
                "ttft_p99_s": pct["ttft_s"]["p99"],
                "tpot_p50_s": pct["tpot_s"]["p50"],
                "tpot_p99_s": pct["tpot_s"]["p99"],
            }
        )
    return rows
