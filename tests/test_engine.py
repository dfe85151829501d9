"""The serving engine: queueing theory, saturation, the closed form at low load, and the decode mechanisms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from estimator import engine as E
from estimator.specs.inference import InferenceScenario


def _scenario(**kw: object) -> InferenceScenario:
    base: dict[str, object] = {"model": "llama3-8b", "hardware": "h100-sxm-80gb", "gpus": 1}
    return InferenceScenario.model_validate({**base, **kw})


def test_one_sequence_at_a_time_is_an_md1_queue() -> None:
    """max_batch 1, fixed prompt and output: each request holds the engine for the same service time S
    and arrivals are Poisson, so the mean wait before its prefill starts is ρS / (2(1 − ρ))."""
    sc = _scenario(
        inference={"prompt_tokens": 512, "output_tokens": 64},
        engine={"max_batch": 1, "token_budget": 100_000},
    )
    steps = E.StepModel.of(sc)
    prefill = steps.prefill_alone_s(512)
    service = prefill + sum(float(steps.decode_s[1]) + steps.kv_s_per_token * (512 + i) for i in range(1, 64))
    for rho in (0.3, 0.6):
        rate = rho / service
        res = E.simulate(sc, rate_per_s=rate, requests=100_000, steps=steps, seed=1)
        wait = float(np.mean(res.ttft_s)) - prefill
        assert wait == pytest.approx(E.md1_wait_s(rate, service), rel=0.03), rho


def test_saturated_throughput_equals_the_closed_form_capacity() -> None:
    sc = _scenario(
        inference={
            "prompt_tokens": 512,
            "output_tokens": {"mean": 256, "kind": "uniform", "low": 128, "high": 384},
        },
        engine={"max_batch": 64},
    )
    steps = E.StepModel.of(sc)
    capacity = E.steady_state(sc, steps, 1000.0)["capacity_per_s"]
    res = E.simulate(sc, rate_per_s=1.0, arrivals=np.zeros(20_000), steps=steps)
    assert res.steady_requests_per_s == pytest.approx(capacity, rel=0.03)


def test_closed_form_agrees_with_the_simulator_at_low_load() -> None:
    sc = _scenario(inference={"prompt_tokens": 1000, "output_tokens": 200})
    steps = E.StepModel.of(sc)
    ss = E.steady_state(sc, steps, 0.05)
    res = E.simulate(sc, rate_per_s=0.05, requests=2000, steps=steps)
    pct = res.percentiles((50,))
    assert pct["ttft_s"]["p50"] == pytest.approx(ss["ttft_s"], rel=0.03)
    assert pct["tpot_s"]["p50"] == pytest.approx(ss["tpot_s"], rel=0.03)


def test_time_to_first_token_is_the_prefill_alone() -> None:
    """The prefill step samples the first token: no decode step is added at batch 1."""
    from estimator.inference import prefill_time_s
    from estimator.serving import estimate_inference

    sc = _scenario(inference={"prompt_tokens": 2048, "output_tokens": 128})
    est = estimate_inference(sc)
    assert est.ttft_s == pytest.approx(float(prefill_time_s(sc, prompt_tokens=2048, batch=1)))


def test_speculative_decoding_expected_tokens() -> None:
    """Leviathan et al. 2023 Eq. 1: (1 − α^(k+1)) / (1 − α) tokens per target step."""
    from estimator.specs.inference import SpeculativeSpec

    spec = SpeculativeSpec(k=4, acceptance=0.8)
    assert spec.tokens_per_step == pytest.approx((1 - 0.8**5) / 0.2)
    fast = E.StepModel.of(_scenario(speculative={"k": 4, "acceptance": 0.8, "draft_cost": 0.05}))
    slow = E.StepModel.of(_scenario(speculative={"k": 4, "acceptance": 0.1, "draft_cost": 0.05}))
    assert fast.spec_factor < 1 < slow.spec_factor  # it pays only when drafts are accepted


def test_fp8_serving_reduces_in_16_bits_and_weight_only_int4_streams_slower() -> None:
    fp8 = _scenario(precision="fp8", gpus=2, parallelism={"tp": 2})
    assert fp8.act_bytes == 2.0  # engines all-reduce 16-bit activations under fp8 GEMMs
    int4 = _scenario(quantisation={"weights": "int4"})
    assert int4.weight_stream_factor == pytest.approx(863 / 1397, rel=1e-3)  # gpt-fast, A100
    assert _scenario(precision="fp8").weight_stream_factor == 1.0


def test_unmeetable_targets_get_no_price_and_say_why() -> None:
    from estimator.serving import estimate_inference

    sc = _scenario(
        inference={"prompt_tokens": 512, "output_tokens": 128},
        traffic={"requests_per_s": 1.0, "ttft_target_s": 1.0, "tpot_target_s": 0.001},
    )
    est = estimate_inference(sc)
    assert est.usd_per_million_tokens is None and est.monthly_cost_usd is None
    assert "decodes at" in est.load["slo_reason"] and "not_priced" in est.assumptions


def test_lognormal_lengths_have_the_given_mean_and_p95() -> None:
    from estimator.specs.inference import Distribution

    draws = E.sample_lengths(Distribution(mean=300, p95=900), 200_000, np.random.default_rng(0))
    assert draws.mean() == pytest.approx(300, rel=0.02)
    assert np.percentile(draws, 95) == pytest.approx(900, rel=0.03)
    assert E.lognormal_sigma(300, 300) == pytest.approx(0.0, abs=1e-12)
    assert not math.isnan(E.lognormal_sigma(300, 100_000))


def test_traffic_gives_percentiles_goodput_and_replicas() -> None:
    from estimator.serving import estimate_inference

    sc = _scenario(
        inference={"prompt_tokens": {"mean": 1500, "p95": 3000}, "output_tokens": {"mean": 200, "p95": 500}},
        traffic={"requests_per_s": 20.0, "ttft_target_s": 1.0, "tpot_target_s": 0.05},
    )
    est = estimate_inference(sc)
    load = est.load
    assert load["slo_feasible"] and load["ttft_s"]["p99"] <= 1.0 and load["tpot_s"]["p99"] <= 0.05
    assert load["ttft_s"]["p50"] <= load["ttft_s"]["p99"]
    assert 0 < load["goodput_requests_per_s"] <= 20.0 * 1.1
    assert est.replicas >= 1 and est.usd_per_million_tokens is not None


def test_prefill_keeps_the_fp32_logits_of_the_last_position() -> None:
    """Sampling the first token reads fp32 logits over the vocabulary (Hugging Face generate upcasts them):
    4·V/tp bytes per sequence beside the layer's temporaries."""
    from estimator.inference import activation_bytes_per_sequence

    small = _scenario(model={"preset": "llama3-8b", "vocab_size": 32_000}, gpus=2, parallelism={"tp": 2})
    large = _scenario(model={"preset": "llama3-8b", "vocab_size": 128_000}, gpus=2, parallelism={"tp": 2})
    gap = activation_bytes_per_sequence(large, 512) - activation_bytes_per_sequence(small, 512)
    assert gap == pytest.approx(4 * (128_000 - 32_000) / 2)


def test_targets_no_replica_count_meets_are_infeasible_with_finite_latencies() -> None:
    """Llama 3 8B in fp32 on an H100 with 1500-token (p95 3000) prompts: a p95 prompt alone prefills within
    the 1 s TTFT target, but the lognormal tail's p99 does not at any replica count. The answer is a
    reason, the latencies the requests would see at next to no queueing (finite, p99 TTFT above the
    target), no price, and the replicas the load needs, never an infinity or an error."""
    from pathlib import Path

    from estimator.serving import estimate_inference
    from estimator.textio import read_yaml

    data = read_yaml(Path(__file__).resolve().parents[1] / "examples" / "serving-customer-service.yaml")
    est = estimate_inference(InferenceScenario.model_validate({**data, "precision": "fp32"}))
    load = est.load
    assert load["slo_feasible"] is False and "no replica count" in load["slo_reason"]
    assert math.isfinite(load["ttft_s"]["p99"]) and load["ttft_s"]["p99"] > 1.0
    assert est.meets_ttft_target is False and est.monthly_cost_usd is None
    assert 1 <= est.replicas < 100
