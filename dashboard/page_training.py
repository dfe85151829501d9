"""Training page: a scenario in, days, dollars, memory and their charts out."""

from __future__ import annotations

import json
import time
from typing import Any

import state
import streamlit as st

from estimator import figures as charts
from estimator.errors import InputError
from estimator.hf_config import MAX_CONFIG_BYTES, model_from_hf_dict
from estimator.presets import model_presets
from estimator.profiles import builtin_profiles
from estimator.scenario_io import scenario_from_dict
from estimator.sweeps import gpu_count_sweep, sensitivity
from estimator.training import estimate_training
from estimator.units import GiB, fmt_usd

PRECISIONS = ["fp32", "fp16-mixed", "bf16-mixed", "bf16", "fp8-mixed"]


def _model_inputs(fields: dict[str, Any]) -> tuple[Any, str | None]:
    """The model: a preset name, a mapping of custom fields, or a parsed config.json; and an error if any."""
    source = st.radio("Model", ["preset", "custom", "config.json"], horizontal=True, key="model_source")
    if source == "preset":
        names = list(model_presets())
        fields["model"] = st.selectbox(
            "Preset", names, index=names.index(fields["model"]) if fields["model"] in names else 0
        )
        return None, None
    if source == "custom":
        c = st.columns(4)
        custom = {
            "name": "custom",
            "architecture": c[0].selectbox("Architecture", ["decoder", "encoder", "encoder-decoder"]),
            "n_layers": c[1].number_input("Layers", 1, 512, 32),
            "d_model": c[2].number_input("d_model", 64, 65536, 4096, 64),
            "n_heads": c[3].number_input("Heads", 1, 1024, 32),
            "vocab_size": c[0].number_input("Vocabulary", 2, 1_000_000, 32000),
            "max_seq_len": c[1].number_input("Max sequence", 1, 1_048_576, 4096),
            "ffn": c[2].selectbox("FFN", ["swiglu", "gelu", "relu", "geglu"]),
            "norm": c[3].selectbox("Norm", ["rmsnorm", "layernorm"]),
            "position": "rope",
        }
        if custom["architecture"] == "encoder-decoder":
            custom["n_decoder_layers"] = custom["n_layers"]
        return custom, None
    upload = st.file_uploader(
        "Hugging Face config.json (local file, 1 MB at most)", type=["json"], key="upload"
    )
    if upload is None:
        return None, "model: upload a config.json, or choose a preset"
    raw = upload.getvalue()
    if len(raw) > MAX_CONFIG_BYTES:
        return None, f"model: {len(raw):,} bytes is too large for a config.json (limit {MAX_CONFIG_BYTES:,})"
    try:
        cfg = json.loads(raw.decode("utf-8"))
        if not isinstance(cfg, dict):
            raise InputError("a config.json must hold a JSON object")
        return model_from_hf_dict(cfg, name=upload.name).model_dump(mode="json"), None
    except (InputError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"model: {exc}"


def _layout_inputs(fields: dict[str, Any], slots: dict[str, Any]) -> None:
    c = st.columns(4)
    names = sorted(builtin_profiles())
    fields["hardware"] = c[0].selectbox(
        "Hardware", names, index=names.index(fields["hardware"]) if fields["hardware"] in names else 0
    )
    fields["gpus"] = c[1].number_input("GPUs", 1, 1_000_000, int(fields["gpus"]))
    fields["precision"] = c[2].selectbox(
        "Precision",
        PRECISIONS,
        index=PRECISIONS.index(fields["precision"]) if fields["precision"] in PRECISIONS else 2,
    )
    fields["usd_per_gpu_hour"] = c[3].number_input(
        "USD per GPU-hour (0: the profile's price)",
        0.0,
        1000.0,
        float(fields["usd_per_gpu_hour"] or 0.0),
        0.1,
    )
    c = st.columns(4)
    for i, key in enumerate(("tp", "pp", "cp", "ep")):
        fields[key] = c[i].number_input(key, 1, 4096, int(fields[key]))
        slots[key] = c[i].empty()
    c = st.columns(4)
    fields["micro_batch"] = c[0].number_input("Micro-batch", 1, 4096, int(fields["micro_batch"]))
    fields["virtual_stages"] = c[1].number_input("Virtual stages", 1, 64, int(fields["virtual_stages"]))
    slots["virtual_stages"] = c[1].empty()
    fields["zero_stage"] = c[2].selectbox("ZeRO stage", [0, 1, 2, 3], index=int(fields["zero_stage"]) % 4)
    recomputes = ["none", "selective", "full"]
    fields["recompute"] = c[3].selectbox(
        "Recompute",
        recomputes,
        index=recomputes.index(fields["recompute"]) if fields["recompute"] in recomputes else 2,
    )
    c = st.columns(4)
    fields["tokens"] = c[0].number_input("Training tokens", 1.0, 1e16, float(fields["tokens"]), format="%.3e")
    fields["global_batch"] = c[1].number_input(
        "Global batch (sequences)", 1, 10_000_000, int(fields["global_batch"])
    )
    slots["global_batch"] = c[1].empty()
    fields["seq_len"] = c[2].number_input("Sequence length", 1, 1_048_576, int(fields["seq_len"]))
    slots["seq_len"] = c[2].empty()
    fields["sequence_parallel"] = c[3].checkbox("Sequence parallel", bool(fields["sequence_parallel"]))
    fields["flash_attention"] = c[3].checkbox("FlashAttention", bool(fields["flash_attention"]))


def render() -> None:
    st.header("Training: what will it cost?")
    started = time.perf_counter()
    fields = state.from_query(dict(st.query_params))
    model, model_error = _model_inputs(fields)
    slots: dict[str, Any] = {}
    _layout_inputs(fields, slots)
    st.query_params.update(state.to_query(fields))
    if model_error:
        st.error(model_error)
        return
    try:
        sc = scenario_from_dict(state.scenario_dict(fields, model), names_only=True)
    except InputError as exc:
        errors = state.field_errors(str(exc))
        for key, text in errors.items():
            slots.get(key, st).error(text)
        return
    st.session_state["current_scenario"] = state.scenario_dict(fields, model)
    est = estimate_training(sc)
    _headline(est)
    left, right = st.columns(2)
    left.plotly_chart(charts.step_breakdown(est.time_breakdown_s), key="chart_breakdown")
    right.plotly_chart(
        charts.memory_stack(est.memory_per_gpu_bytes, est.memory_capacity_bytes), key="chart_memory"
    )
    left, right = st.columns(2)
    left.plotly_chart(charts.cost_vs_gpus(gpu_count_sweep(sc)), key="chart_gpus")
    right.plotly_chart(charts.sensitivity(sensitivity(sc)), key="chart_sensitivity")
    with st.expander("Assumptions (every one the estimate used)"):
        st.json(est.assumptions)
    st.caption(f"Rendered in {(time.perf_counter() - started) * 1e3:,.0f} ms (estimate, sweeps and charts).")


def _headline(est: Any) -> None:
    days, (lo, hi) = (
        est.train_time_s / 86400,
        (est.train_time_s_range[0] / 86400, est.train_time_s_range[1] / 86400),
    )
    cols = st.columns(4)
    cols[0].metric("Training time", f"{days:,.1f} days", help=f"range {lo:,.1f} – {hi:,.1f} days")
    cost = "n/a (set a price)" if est.cost_usd is None else fmt_usd(est.cost_usd)
    rng = (
        ""
        if est.cost_usd_range is None
        else f"{fmt_usd(est.cost_usd_range[0])} – {fmt_usd(est.cost_usd_range[1])}"
    )
    cols[1].metric("Cost", cost, help=f"range {rng}" if rng else None)
    cols[2].metric("GPU-hours", f"{est.gpu_hours:,.0f}")
    cols[3].metric("MFU", f"{est.mfu:.1%}", help=f"HFU {est.hfu:.1%}")
    cols = st.columns(4)
    mem = est.memory_per_gpu_bytes["total"]
    cols[0].metric(
        "Memory per GPU", f"{mem / GiB:,.1f} GiB", help=f"of {est.memory_capacity_bytes / GiB:,.0f} GiB"
    )
    cols[1].metric("Fits in memory", "yes" if est.fits_in_memory else "NO")
    cols[2].metric("Energy", f"{est.energy_kwh / 1000:,.1f} MWh")
    cols[3].metric("CO2", f"{est.co2_kg / 1000:,.1f} t")
    st.caption(
        f"Range: {est.assumptions['step_time_range']}. Parameters {est.params_total:,.0f}; "
        f"{est.steps:,} steps of {est.step_time_s:,.2f} s."
    )
