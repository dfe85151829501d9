"""Serving page: traffic and latency targets in; GPUs, dollars per million tokens and per month out."""

from __future__ import annotations

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

SHIPPED = {
    "Customer-service assistant": "serving-customer-service.yaml",
    "Content-writing tool": "serving-content-writing.yaml",
    "Tutoring assistant": "serving-tutoring.yaml",
}


@st.cache_data(show_spinner="Simulating the engine at ten request rates…", max_entries=32)
def _latency_vs_rate(scenario_json: str) -> list[dict[str, float]]:
    from estimator.engine import latency_vs_rate

    return latency_vs_rate(InferenceScenario.model_validate_json(scenario_json), points=8, requests=400)


def render() -> None:
    st.header("Serving: latency and cost of traffic")
    cols = st.columns(len(SHIPPED))
    for col, (label, file) in zip(cols, SHIPPED.items(), strict=True):
        if col.button(label, key=f"ship_{file}"):
            st.session_state["serving"] = read_yaml(SERVING_SCENARIOS / file)
    data = dict(
        st.session_state.get("serving") or read_yaml(SERVING_SCENARIOS / "serving-customer-service.yaml")
    )
    c = st.columns(4)
    models, hws = list(model_presets()), sorted(builtin_profiles())
    data["model"] = c[0].selectbox(
        "Model", models, index=models.index(data["model"]) if data["model"] in models else 0
    )
    data["hardware"] = c[1].selectbox(
        "Hardware", hws, index=hws.index(data["hardware"]) if data["hardware"] in hws else 0
    )
    tp = c[2].number_input("GPUs per replica (tp)", 1, 64, int(data.get("parallelism", {}).get("tp", 1)))
    data["parallelism"], data["gpus"] = {"tp": tp, "pp": 1}, tp
    dtypes = ["bf16", "fp16", "fp8", "fp32"]
    data["precision"] = c[3].selectbox("Precision", dtypes, index=dtypes.index(data.get("precision", "bf16")))
    c = st.columns(4)
    stores = ["bf16", "fp16", "fp8", "int8", "int4"]
    q = dict(data.get("quantisation") or {})
    q["weights"] = c[0].selectbox("Weights stored as", stores, index=stores.index(q.get("weights") or "bf16"))
    q["kv_cache"] = c[1].selectbox(
        "KV cache stored as", stores, index=stores.index(q.get("kv_cache") or "bf16")
    )
    data["quantisation"] = q
    inf = dict(data.get("inference") or {})
    prompt = inf.get("prompt_tokens", 512)
    output = inf.get("output_tokens", 256)
    inf["prompt_tokens"] = {
        "mean": c[2].number_input(
            "Prompt tokens (mean)", 1.0, 1e6, float(prompt["mean"] if isinstance(prompt, dict) else prompt)
        )
    }
    inf["output_tokens"] = {
        "mean": c[3].number_input(
            "Output tokens (mean)", 1.0, 1e6, float(output["mean"] if isinstance(output, dict) else output)
        )
    }
    data["inference"] = inf
    t = dict(data.get("traffic") or {"requests_per_s": 1.0})
    c = st.columns(3)
    rate = t.get("requests_per_s") or (t.get("requests_per_day", 86400.0) / 86400.0)
    data["traffic"] = {
        "requests_per_s": c[0].number_input("Requests per second", 0.001, 1e6, float(rate)),
        "ttft_target_s": c[1].number_input(
            "Time-to-first-token target (s)", 0.01, 60.0, float(t.get("ttft_target_s", 1.0))
        ),
        "tpot_target_s": c[2].number_input(
            "Per-token target (s)", 0.001, 10.0, float(t.get("tpot_target_s", 0.05)), format="%.3f"
        ),
    }
    try:
        sc = InferenceScenario.model_validate(data, context={"names_only": True})
    except ValidationError as exc:
        st.error(format_validation_error(exc))
        return
    except InputError as exc:
        st.error(str(exc))
        return
    est = estimate_inference(sc)
    cols = st.columns(4)
    cols[0].metric(
        "GPUs needed", f"{est.gpus_needed}", help=f"{est.replicas} replica(s), {est.utilisation:.0%} busy"
    )
    cols[1].metric(
        "USD per million tokens",
        "n/a" if est.usd_per_million_tokens is None else f"${est.usd_per_million_tokens:,.3f}",
    )
    cols[2].metric(
        "Per month", "n/a (no price)" if est.monthly_cost_usd is None else fmt_usd(est.monthly_cost_usd)
    )
    cols[3].metric(
        "Time per token", f"{est.tpot_s * 1e3:,.1f} ms", help=f"first token {est.ttft_s * 1e3:,.0f} ms"
    )
    st.caption(
        f"Batch {est.batch}; memory per GPU {est.memory_per_gpu_bytes['total'] / GiB:,.1f} GiB "
        f"({'fits' if est.fits_in_memory else 'does not fit'}); targets: first token "
        f"{'met' if est.meets_ttft_target else 'MISSED'}, per token "
        f"{'met' if est.meets_tpot_target else 'MISSED'}."
    )
    _charts(sc, est, data["traffic"])
    with st.expander("Assumptions"):
        st.json(est.assumptions)


def _charts(sc: InferenceScenario, est: Any, traffic: dict[str, float]) -> None:
    """Latency and throughput against batch; latency percentiles against the request rate (simulated)."""
    rows = latency_vs_batch(sc)
    if rows:
        st.plotly_chart(charts.latency_vs_batch(rows), key="chart_latency")
    if not est.fits_in_memory:
        return
    curve = _latency_vs_rate(sc.model_dump_json())
    st.plotly_chart(
        charts.latency_vs_rate(curve, traffic["ttft_target_s"], traffic["tpot_target_s"]),
        key="chart_latency_rate",
    )
    if est.load:
        t = est.load["ttft_s"]
        st.caption(
            f"At {sc.traffic.rate_per_s if sc.traffic else 0:,.3g} requests/s on {est.replicas} replica(s): "
            f"TTFT p50 {t['p50'] * 1e3:,.0f} ms, p99 {t['p99'] * 1e3:,.0f} ms; "
            + (
                f"goodput {est.load['goodput_requests_per_s']:,.2f} requests/s."
                if "goodput_requests_per_s" in est.load
                else est.load.get("slo_reason", "")
            )
        )
