"""Serving page: traffic and latency targets in; the answer first (GPUs, dollars per million tokens and per
month, p50/p99 latency, fits or not), then latency against batch and against the request rate.

The serving scenario lives in the URL (`serving`, compact JSON), so a link reproduces the page."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st
from pydantic import ValidationError

from estimator import figures as charts
from estimator.errors import InputError, format_validation_error
from estimator.presets import model_presets
from estimator.profiles import builtin_profiles
from estimator.scenario_io import SERVING_SCENARIOS
from estimator.serving import estimate_inference, latency_vs_batch
from estimator.specs.inference import InferenceScenario
from estimator.textio import read_yaml
from estimator.units import GiB, fmt_usd

P = "sv_"
SHIPPED = {
    "Customer-service assistant": "serving-customer-service.yaml",
    "Content-writing tool": "serving-content-writing.yaml",
    "Tutoring assistant": "serving-tutoring.yaml",
}
DTYPES = ["bf16", "fp16", "fp8", "fp4", "fp32"]
STORES = ["bf16", "fp16", "fp8", "fp4", "int8", "int4"]
URL_LIMIT = 4000


@st.cache_data(show_spinner="Simulating the engine at eight request rates…", max_entries=32)
def _latency_vs_rate(scenario_json: str) -> list[dict[str, float]]:
    from estimator.engine import latency_vs_rate

    return latency_vs_rate(InferenceScenario.model_validate_json(scenario_json), points=8, requests=400)


@st.cache_data(show_spinner="Sizing the deployment (engine simulation)…", max_entries=32)
def _estimate(scenario_json: str) -> Any:
    return estimate_inference(InferenceScenario.model_validate_json(scenario_json))


def _from_url() -> tuple[dict[str, Any], str | None]:
    raw = st.query_params.get("serving", "")
    default = read_yaml(SERVING_SCENARIOS / "serving-customer-service.yaml")
    if not raw:
        return default, None
    if len(raw) > URL_LIMIT:
        return default, f"URL parameter serving is longer than {URL_LIMIT} characters; showing the default"
    try:
        data = json.loads(raw)
        InferenceScenario.model_validate(data, context={"names_only": True})
        return data, None
    except Exception as exc:  # noqa: BLE001 - a bad link is a notice, never a crash
        return (
            default,
            f"URL parameter serving is not a valid serving scenario ({str(exc)[:160]}); showing the default",
        )


def _load(data: dict[str, Any]) -> None:
    """Put a serving scenario into the widgets."""
    inf, t = data.get("inference") or {}, data.get("traffic") or {}
    q = data.get("quantisation") or {}

    def mean(v: Any, d: float) -> float:
        return float(v["mean"] if isinstance(v, dict) else v if v is not None else d)

    st.session_state.update(
        {
            P + "model": data.get("model", "llama3-8b"),
            P + "hardware": data.get("hardware", "h100-sxm-80gb"),
            P + "tp": int((data.get("parallelism") or {}).get("tp", 1)),
            P + "precision": data.get("precision", "bf16"),
            P + "weights": q.get("weights") or data.get("precision", "bf16"),
            P + "kv": q.get("kv_cache") or data.get("precision", "bf16"),
            P + "prompt": mean(inf.get("prompt_tokens"), 512),
            P + "prompt_p95": float((inf.get("prompt_tokens") or {}).get("p95") or 0.0)
            if isinstance(inf.get("prompt_tokens"), dict)
            else 0.0,
            P + "output": mean(inf.get("output_tokens"), 256),
            P + "output_p95": float((inf.get("output_tokens") or {}).get("p95") or 0.0)
            if isinstance(inf.get("output_tokens"), dict)
            else 0.0,
            P + "rate": float(t.get("requests_per_s") or t.get("requests_per_day", 86400.0) / 86400.0),
            P + "ttft": float(t.get("ttft_target_s", 1.0)),
            P + "tpot": float(t.get("tpot_target_s", 0.05)),
            P + "name": str(data.get("name", "serving"))[:200],
        }
    )


def _inputs() -> dict[str, Any]:
    s = st.session_state
    models, hws = list(model_presets()), sorted(builtin_profiles())
    for key, options in ((P + "model", models), (P + "hardware", hws)):
        if s.get(key) not in options:
            s[key] = options[0]
    c = st.columns(4)
    model = c[0].selectbox("Model", models, key=P + "model")
    hardware = c[1].selectbox("Hardware", hws, key=P + "hardware")
    tp = c[2].number_input("GPUs per replica (tp)", 1, 64, key=P + "tp", help="allowed 1–64")
    precision = c[3].selectbox("Precision", DTYPES, key=P + "precision")
    c = st.columns(4)
    weights = c[0].selectbox("Weights stored as", STORES, key=P + "weights")
    kv = c[1].selectbox("KV cache stored as", STORES, key=P + "kv")
    prompt = c[2].number_input("Prompt tokens (mean)", 1.0, 1e6, key=P + "prompt", help="allowed 1–10⁶")
    output = c[3].number_input("Output tokens (mean)", 1.0, 1e6, key=P + "output", help="allowed 1–10⁶")
    c = st.columns(3)
    rate = c[0].number_input("Requests per second", 0.001, 1e6, key=P + "rate", help="allowed 0.001–10⁶")
    ttft = c[1].number_input(
        "Time-to-first-token target (s)", 0.01, 60.0, key=P + "ttft", help="p99; 0.01–60 s"
    )
    tpot = c[2].number_input(
        "Per-token target (s)", 0.001, 10.0, key=P + "tpot", format="%.3f", help="p99; 0.001–10 s"
    )

    def dist(m: float, p95: float) -> dict[str, float]:
        return {"mean": m, "p95": p95} if p95 and p95 >= m else {"mean": m}

    return {
        "name": s.get(P + "name", "serving"),
        "model": model,
        "hardware": hardware,
        "gpus": int(tp),
        "parallelism": {"tp": int(tp), "pp": 1},
        "precision": precision,
        "quantisation": {"weights": weights, "kv_cache": kv},
        "inference": {
            "prompt_tokens": dist(prompt, s.get(P + "prompt_p95", 0.0)),
            "output_tokens": dist(output, s.get(P + "output_p95", 0.0)),
        },
        "traffic": {"requests_per_s": rate, "ttft_target_s": ttft, "tpot_target_s": tpot},
    }


def render() -> None:
    st.header("Serving: latency and cost of traffic")
    data, notice = _from_url()
    if notice:
        st.warning(notice)
    raw = st.query_params.get("serving", "")
    if st.session_state.get(P + "written") != raw or P + "model" not in st.session_state:
        _load(data)
    cols = st.columns(len(SHIPPED))
    for col, (label, file) in zip(cols, SHIPPED.items(), strict=True):
        if col.button(label, key=f"ship_{file}"):
            _load(read_yaml(SERVING_SCENARIOS / file))
    band = st.container()
    with st.expander("Serving scenario: model, hardware, precision, request shape, traffic", expanded=True):
        data = _inputs()
    encoded = json.dumps(data, separators=(",", ":"))
    st.query_params["serving"] = encoded
    st.session_state[P + "written"] = encoded
    try:
        sc = InferenceScenario.model_validate(data, context={"names_only": True})
    except ValidationError as exc:
        band.error(format_validation_error(exc))
        return
    except InputError as exc:
        band.error(str(exc))
        return
    est = _estimate(sc.model_dump_json())
    with band:
        _answer(est)
    _charts(sc, est, data["traffic"])
    with st.expander("Assumptions"):
        st.json(est.assumptions)


def _answer(est: Any) -> None:
    feasible = est.fits_in_memory and est.load.get("slo_feasible", True)
    if not est.fits_in_memory:
        fixes = "; ".join(est.fit_suggestions) or "more tensor parallelism or narrower weights"
        st.error(
            f"DOES NOT FIT: one replica needs {est.memory_per_gpu_bytes['total'] / GiB:,.1f} GiB per GPU "
            f"({est.memory_shortfall_bytes / GiB:,.1f} GiB more than the engine may use). No price is given. "
            f"It would fit with: {fixes}."
        )
    elif not feasible:
        st.error(f"DOES NOT FIT the latency targets: {est.load.get('slo_reason')}. No price is given.")
    c = st.columns(5)
    c[0].metric(
        "GPUs needed", f"{est.gpus_needed:,}", help=f"{est.replicas} replica(s), {est.utilisation:.0%} busy"
    )
    per_m = est.usd_per_million_tokens
    c[1].metric("USD per million tokens", "not priced" if per_m is None else f"${per_m:,.3f}")
    month = est.monthly_cost_usd
    c[2].metric("Per month", "not priced" if month is None else fmt_usd(month))
    load = est.load
    if load:
        c[3].metric(
            "First token p50 / p99 (ms)",
            f"{load['ttft_s']['p50'] * 1e3:,.0f} / {load['ttft_s']['p99'] * 1e3:,.0f}",
            help="time to first token under the traffic (engine simulation)",
        )
        c[4].metric(
            "Per token p50 / p99 (ms)",
            f"{load['tpot_s']['p50'] * 1e3:,.1f} / {load['tpot_s']['p99'] * 1e3:,.1f}",
            help="time per output token under the traffic (engine simulation)",
        )
    st.caption(
        f"Batch {est.batch}; memory per GPU {est.memory_per_gpu_bytes['total'] / GiB:,.1f} GiB "
        f"({'fits' if est.fits_in_memory else 'does not fit'}); p99 targets: first token "
        f"{'met' if est.meets_ttft_target else 'MISSED'}, "
        f"per token {'met' if est.meets_tpot_target else 'MISSED'}"
        + (
            f"; goodput {load['goodput_requests_per_s']:,.2f} requests/s."
            if "goodput_requests_per_s" in load
            else "."
        )
    )


def _charts(sc: InferenceScenario, est: Any, traffic: dict[str, float]) -> None:
    """Latency and throughput against batch (the chosen batch marked); latency percentiles against the
    request rate (simulated)."""
    rows = latency_vs_batch(sc)
    if rows:
        st.plotly_chart(charts.latency_vs_batch(rows, chosen=est.batch), key="chart_latency")
    if not est.fits_in_memory:
        return
    curve = _latency_vs_rate(sc.model_dump_json())
    st.plotly_chart(
        charts.latency_vs_rate(curve, traffic["ttft_target_s"], traffic["tpot_target_s"]),
        key="chart_latency_rate",
    )
