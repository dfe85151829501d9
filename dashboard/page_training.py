"""Training page: the answer first (cost with its range, days, GPUs, fits or not, the price used), then
the scenario's inputs, the charts and every assumption. Layout inputs live in the sidebar."""

from __future__ import annotations

import hashlib
import json
import os
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
from estimator.training import estimate_training
from estimator.units import GiB, fmt_usd

P = "tr_"  # widget keys
PRECISIONS = list(state.CHOICES["precision"])
RECOMPUTES = list(state.CHOICES["recompute"])
HELP = {
    "tp": "tensor parallelism: each layer's matrices split over this many GPUs (inside a node)",
    "pp": "pipeline parallelism: the layers split into this many stages",
    "cp": "context parallelism: the sequence split over this many GPUs (ring attention)",
    "ep": "expert parallelism: an MoE model's experts spread over this many GPUs",
    "micro_batch": "sequences per micro-batch; global batch / (micro-batch × data parallel) per step",
    "virtual_stages": "model chunks per pipeline stage (interleaved 1F1B); 1 = plain 1F1B",
    "zero_stage": "ZeRO: 1 shards optimizer states, 2 also gradients, 3 also weights (FSDP)",
    "recompute": "activation recomputation: none, selective (attention core), full (every layer), "
    "selective-op (torchtitan's op policy)",
    "stack": "the training software: which kernels are fused and which communication overlaps compute "
    "(estimator/data/stacks.yaml); megatron-lm-2021 is the GPT-3 run's",
}


@st.cache_data(show_spinner=False, max_entries=64)
def _estimate(scenario_json: str) -> Any:
    return estimate_training(scenario_from_dict(json.loads(scenario_json), names_only=True))


@st.cache_data(show_spinner=False, max_entries=32)
def _sweeps(scenario_json: str) -> tuple[Any, Any]:
    from estimator.sweeps import gpu_count_sweep, sensitivity

    sc = scenario_from_dict(json.loads(scenario_json), names_only=True)
    return gpu_count_sweep(sc), sensitivity(sc)


@st.cache_data(show_spinner=False, max_entries=32)
def _ops(scenario_json: str) -> list[dict[str, Any]]:
    from estimator.training.step import op_roofline

    return op_roofline(scenario_from_dict(json.loads(scenario_json), names_only=True))


def _roofline(key: str) -> None:
    """LLM-Viewer's roofline view, for training: what bounds each op of the slowest stage."""
    import pandas as pd

    rows = _ops(key)
    with st.expander("What bounds each op: compute, memory or communication (slowest stage)"):
        if not rows:
            st.info("No ops to show.")
            return
        st.plotly_chart(charts.op_roofline(rows), key="chart_ops")
        frame = pd.DataFrame(
            {
                "op": [r["op"] for r in rows],
                "layers": [r["where"] for r in rows],
                "bound by": [r["bound_by"] for r in rows],
                "s per step": [f"{r['seconds_per_step']:,.3f}" for r in rows],
                "share": [f"{r['share']:.1%}" for r in rows],
                "GFLOP per kernel": [f"{r['gflop_per_kernel']:,.1f}" for r in rows],
                "MB moved per kernel": [f"{r['mb_per_kernel']:,.1f}" for r in rows],
                "FLOP per byte": [f"{r['flop_per_byte']:,.0f}" for r in rows],
            }
        ).set_index("op")
        st.table(frame)
        st.caption(
            "Forward + backward seconds of every layer and micro-batch of one step on one GPU; collectives "
            "before any overlap with compute; recomputation not included (it is its own line in the step "
            "breakdown). An op is memory-bound when moving its bytes at the profile's HBM bandwidth takes "
            "longer than its FLOPs at the calibrated kernel efficiency."
        )


def _number(container: Any, label: str, key: str, low: float, high: float, **kw: Any) -> Any:
    """A number input keyed in session state, with its allowed range in the help text."""
    unit = kw.pop("unit", "")
    bounds = f"allowed {state.fmt_bound(low)}–{state.fmt_bound(high)}{unit}"
    help_text = f"{kw.pop('help', '')} ({bounds})".strip()
    return container.number_input(label, low, high, key=P + key, help=help_text, **kw)


PAINT_DELAY_S = 0.0 if os.environ.get("ESTIMATOR_DASHBOARD_STRICT") == "1" else 0.8  # not under AppTest
CUSTOM_DEFAULTS = {"c_layers": 32, "c_d": 4096, "c_heads": 32, "c_vocab": 32000, "c_seq": 4096}


def _model_inputs(fields: dict[str, Any]) -> str | None:
    """The model: a preset, custom fields, or an uploaded config.json (carried across pages and links in
    the URL as compact JSON). Returns an error to show, if any."""
    options = ["preset", "custom", "config.json"]
    if P + "source" not in st.session_state:
        st.session_state[P + "source"] = "config.json" if fields["model_spec"] else "preset"
    source = st.radio("Model", options, horizontal=True, key=P + "source")
    if source == "preset":
        names = list(model_presets())
        if st.session_state.get(P + "model") not in names:
            st.session_state[P + "model"] = names[0]
        fields["model"] = st.selectbox("Preset", names, key=P + "model")
        fields["model_spec"] = ""
        return None
    if source == "custom":
        for k, v in CUSTOM_DEFAULTS.items():
            st.session_state.setdefault(P + k, v)
        c = st.columns(4)
        custom = {
            "name": "custom",
            "architecture": c[0].selectbox(
                "Architecture", ["decoder", "encoder", "encoder-decoder"], key=P + "c_arch"
            ),
            "n_layers": c[1].number_input("Layers", 1, 512, key=P + "c_layers"),
            "d_model": c[2].number_input("d_model", 64, 65536, step=64, key=P + "c_d"),
            "n_heads": c[3].number_input("Heads", 1, 1024, key=P + "c_heads"),
            "vocab_size": c[0].number_input("Vocabulary", 2, 1_000_000, key=P + "c_vocab"),
            "max_seq_len": c[1].number_input("Max sequence", 1, 1_048_576, key=P + "c_seq"),
            "ffn": c[2].selectbox("FFN", ["swiglu", "gelu", "relu", "geglu"], key=P + "c_ffn"),
            "norm": c[3].selectbox("Norm", ["rmsnorm", "layernorm"], key=P + "c_norm"),
            "position": "rope",
        }
        if custom["architecture"] == "encoder-decoder":
            custom["n_decoder_layers"] = custom["n_layers"]
        try:
            fields["model_spec"] = state.encode_model(custom)
        except ValueError as exc:
            return f"model: {exc}"
        return None
    return _upload(fields)


def _upload(fields: dict[str, Any]) -> str | None:
    """An uploaded config.json, or the model a link carries; an error to show if it cannot be read."""
    upload = st.file_uploader(
        "Hugging Face config.json (local file, 1 MB at most)", type=["json"], key=P + "upload"
    )
    if upload is None:
        if fields["model_spec"]:
            st.caption(
                f"Using {state.model_label(fields)}, carried by the link (content hash "
                f"{hashlib.sha256(fields['model_spec'].encode()).hexdigest()[:10]}); upload a config.json "
                "to replace it."
            )
            return None
        return "model: upload a config.json, or choose a preset"
    raw = upload.getvalue()
    if len(raw) > MAX_CONFIG_BYTES:
        return f"model: {len(raw):,} bytes is too large for a config.json (limit {MAX_CONFIG_BYTES:,})"
    try:
        cfg = json.loads(raw.decode("utf-8"))
        if not isinstance(cfg, dict):
            raise InputError("a config.json must hold a JSON object")
        fields["model_spec"] = state.encode_model(model_from_hf_dict(cfg, name=upload.name).model_dump())
    except UnicodeDecodeError:
        return "model: the file is not UTF-8 text; a config.json is JSON text"
    except json.JSONDecodeError as exc:
        return f"model: not valid JSON ({exc.msg} at line {exc.lineno})"
    except (InputError, ValueError) as exc:
        return f"model: {exc}"
    return None


def _workload_inputs(fields: dict[str, Any], slots: dict[str, Any]) -> None:
    c = st.columns(4)
    names = sorted(builtin_profiles())
    if st.session_state.get(P + "hardware") not in names:
        st.session_state[P + "hardware"] = state.DEFAULTS["hardware"]
    fields["hardware"] = c[0].selectbox("Hardware", names, key=P + "hardware")
    fields["gpus"] = _number(c[1], "GPUs", "gpus", 1, 1_000_000)
    slots["gpus"] = c[1].empty()
    fields["precision"] = c[2].selectbox("Precision", PRECISIONS, key=P + "precision")
    fields["usd_per_gpu_hour"] = _number(
        c[3],
        "USD per GPU-hour",
        "usd_per_gpu_hour",
        0.0,
        1000.0,
        step=0.1,
        help="0 uses the hardware profile's dated price, which follows the hardware",
    )
    c = st.columns(4)
    fields["tokens"] = _number(c[0], "Training tokens", "tokens", 1.0, 1e16, format="%.3e")
    fields["global_batch"] = _number(c[1], "Global batch (sequences)", "global_batch", 1, 10_000_000)
    slots["global_batch"] = c[1].empty()
    fields["seq_len"] = _number(c[2], "Sequence length", "seq_len", 1, 1_048_576, unit=" tokens")
    slots["seq_len"] = c[2].empty()
    fields["flash_attention"] = c[3].checkbox("FlashAttention", key=P + "flash_attention")


def _layout_inputs(fields: dict[str, Any], slots: dict[str, Any]) -> None:
    side = st.sidebar
    side.subheader("Parallel layout")
    for key in ("tp", "pp", "cp", "ep"):
        fields[key] = _number(side, key, key, 1, 4096, help=HELP[key])
        slots[key] = side.empty()
    fields["micro_batch"] = _number(side, "Micro-batch", "micro_batch", 1, 4096, help=HELP["micro_batch"])
    fields["virtual_stages"] = _number(
        side, "Virtual stages", "virtual_stages", 1, 64, help=HELP["virtual_stages"]
    )
    slots["virtual_stages"] = side.empty()
    fields["zero_stage"] = side.selectbox(
        "ZeRO stage", [0, 1, 2, 3], key=P + "zero_stage", help=HELP["zero_stage"]
    )
    fields["recompute"] = side.selectbox("Recompute", RECOMPUTES, key=P + "recompute", help=HELP["recompute"])
    fields["sequence_parallel"] = side.checkbox("Sequence parallel", key=P + "sequence_parallel")
    fields["stack"] = side.selectbox(
        "Software stack", list(state.CHOICES["stack"]), key=P + "stack", help=HELP["stack"]
    )


def render() -> None:
    started = time.perf_counter()
    params = dict(st.query_params)
    fields = state.from_query(params)
    state.sync(st.session_state, params, P, {k: v for k, v in fields.items() if k != "model_spec"})
    band = st.container()  # the answer, filled once the inputs are read
    with st.expander("Scenario: model, hardware, GPUs, price, workload", expanded=True):
        model_error = _model_inputs(fields)
        slots: dict[str, Any] = {}
        _workload_inputs(fields, slots)
    _layout_inputs(fields, slots)
    query = state.to_query(fields)
    st.query_params.update(query)
    state.written(st.session_state, P, query)
    if model_error:
        band.error(model_error)
        return
    data = state.scenario_dict(fields)
    try:
        scenario_from_dict(data, names_only=True)
    except InputError as exc:
        band.error(f"{exc} — this setup cannot be evaluated; the fields are marked below.")
        for key, text in state.field_errors(str(exc)).items():
            slots.get(key, st).error(text)
        return
    st.session_state["current_scenario"] = data
    key = json.dumps(data, sort_keys=True)
    est = _estimate(key)
    with band:
        _answer(est, fields)
    if not st.session_state.get("tr_painted"):
        # a new session: send the answer band alone first and give the browser time to paint it before it
        # fetches and parses Plotly (4.7 MB, ~2 s of a core on this machine, during which nothing paints);
        # then draw the charts in a second run. Once per session.
        st.session_state["tr_painted"] = True
        st.session_state["carry_notices"] = True  # the link's notices stay on screen after the rerun
        st.caption("Drawing the charts…")
        time.sleep(PAINT_DELAY_S)
        st.rerun()
    _charts(est, key)
    with st.expander("Assumptions (every one the estimate used)"):
        st.json(est.assumptions)
    st.caption(f"Rendered in {(time.perf_counter() - started) * 1e3:,.0f} ms (estimate, sweeps and charts).")


def _answer(est: Any, fields: dict[str, Any]) -> None:
    """The summary band: cost with its range, days, GPUs, fits (with the margin), the price and its
    source; a setup that does not fit is a red banner with the shortfall and the changes that fix it."""
    st.subheader(f"{state.model_label(fields)} on {est.gpus:,} × {est.hardware}")
    mem, cap = est.memory_per_gpu_bytes["total"], est.memory_capacity_bytes
    if not est.fits_in_memory:
        fixes = "; ".join(est.fit_suggestions) or "more GPUs, tp·pp, ZeRO-3 or full recomputation"
        st.error(
            f"DOES NOT FIT: {mem / GiB:,.1f} GiB per GPU needed, {cap / GiB:,.0f} GiB available "
            f"({(mem - cap) / GiB:,.1f} GiB short). No cost is given. It would fit with: {fixes}."
        )
    days = est.train_time_s / 86400
    lo, hi = (x / 86400 for x in est.train_time_s_range)
    c = st.columns(5)
    if est.cost_usd is None:
        c[0].metric("Cost", "not priced", help="the setup does not fit, or there is no price")
    else:
        span = f"{fmt_usd(est.cost_usd_range[0])} – {fmt_usd(est.cost_usd_range[1])}"
        c[0].metric("Cost", fmt_usd(est.cost_usd), help=f"range {span}")
        c[0].caption(f"range {span}")
    c[1].metric("Training time", f"{days:,.1f} days", help=f"range {lo:,.1f} – {hi:,.1f} days")
    c[1].caption(f"range {lo:,.1f} – {hi:,.1f} days")
    c[2].metric("GPUs", f"{est.gpus:,}", help=f"dp {est.dp}, {est.micro_batches} micro-batches per step")
    margin = (cap - mem) / GiB
    c[3].metric(
        "Fits in memory",
        "yes" if est.fits_in_memory else "NO",
        delta=f"{margin:+,.1f} GiB headroom",
        delta_color="normal" if est.fits_in_memory else "inverse",
    )
    price = est.assumptions.get("price", {})
    usd = price.get("usd_per_gpu_hour")
    c[4].metric("Price per GPU-hour", "none" if usd is None else f"${usd:,.2f}")
    src = (
        price.get("source")
        if price.get("source") == "scenario"
        else price.get("provider") or price.get("source")
    )
    c[4].caption(f"{src}{', ' + str(price.get('date')) if price.get('date') else ''}")
    st.caption(
        f"Parameters {est.params_total:,.0f}; MFU {est.mfu:.1%} (HFU {est.hfu:.1%}); {mem / GiB:,.1f} GiB "
        "per GPU; energy "
        f"{est.energy_kwh / 1000:,.1f} MWh, {est.co2_kg / 1000:,.1f} t CO2e; {est.steps:,} steps of "
        f"{est.step_time_s:,.2f} s. Range: {est.assumptions['step_time_range']}."
    )


def _charts(est: Any, key: str) -> None:
    gpus_table, sens = _sweeps(key)
    left, right = st.columns(2)
    left.plotly_chart(charts.step_breakdown(est.time_breakdown_s), key="chart_breakdown")
    right.plotly_chart(
        charts.memory_stack(est.memory_per_gpu_bytes, est.memory_capacity_bytes), key="chart_memory"
    )
    left, right = st.columns(2)
    left.plotly_chart(charts.cost_vs_gpus(gpus_table, current=est.gpus), key="chart_gpus")
    right.plotly_chart(charts.sensitivity(sens), key="chart_sensitivity")
    _roofline(key)
