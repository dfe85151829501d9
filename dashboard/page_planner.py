"""Planner page: constraints in, the cost–time Pareto front and the top plans out; a plan opens in the
training page with its own hardware's price.

The search (every layout of the model and workload on the chosen hardware, up to the GPU limit) runs once
and is cached; the objective, memory headroom, deadline and budget only filter and re-rank its table."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import state
import streamlit as st

from estimator import figures as charts
from estimator.errors import InputError
from estimator.planner import plan
from estimator.planner.rank import pareto_front, rank
from estimator.profiles import builtin_profiles
from estimator.scenario_io import scenario_from_dict
from estimator.specs.plan import PlanSpec
from estimator.units import fmt_usd

P = "pl_"
SHOW = {
    "hardware": "hardware",
    "gpus": "GPUs",
    "cost": "cost (upper)",
    "days": "days",
    "mfu": "MFU",
    "tp": "tp",
    "pp": "pp",
    "cp": "cp",
    "dp": "dp",
    "micro_batch": "micro-batch",
    "virtual_stages": "v",
    "zero": "ZeRO",
    "recompute": "recompute",
    "sequence_parallel": "SP",
    "memory": "memory/GPU",
    "validated": "validated domain",
}
PLAN_DEFAULTS: dict[str, Any] = {
    "plan_hw": "a100-sxm-80gb,h100-sxm-80gb",
    "plan_max_gpus": 1024,
    "plan_deadline": 90.0,
    "plan_budget": 0.0,
    "plan_objective": "cost",
    "plan_headroom": 0.10,
}


def _constraints(params: dict[str, str]) -> dict[str, Any]:
    out = dict(PLAN_DEFAULTS)
    for key, default in PLAN_DEFAULTS.items():
        if key in params:
            try:
                out[key] = (
                    type(default)(params[key]) if not isinstance(default, str) else str(params[key])[:400]
                )
            except ValueError:
                continue
    out["plan_max_gpus"] = int(min(max(out["plan_max_gpus"], 1), 100_000))
    out["plan_deadline"] = float(min(max(out["plan_deadline"], 0.0), 10_000.0))
    out["plan_budget"] = float(min(max(out["plan_budget"], 0.0), 1e10))
    out["plan_headroom"] = float(min(max(out["plan_headroom"], 0.0), 0.5))
    if out["plan_objective"] not in ("cost", "time", "pareto"):
        out["plan_objective"] = "cost"
    return out


def _inputs(names: list[str]) -> tuple[list[str], int, float, float, str, float, int, dict[str, str]]:
    """The constraints' widgets, and the query parameters that carry them."""
    c = st.columns(4)
    hardware = c[0].multiselect("Hardware", names, key=P + "hw")
    max_gpus = c[1].number_input("Max GPUs", 1, 100_000, key=P + "max_gpus", help="allowed 1–100,000")
    deadline = c[2].number_input(
        "Deadline (days, 0: none)", 0.0, 10_000.0, key=P + "deadline", help="allowed 0–10,000 days"
    )
    budget = c[3].number_input(
        "Budget (USD, 0: none)", 0.0, 1e10, key=P + "budget", format="%.0f", help="allowed 0–10¹⁰ USD"
    )
    c = st.columns(3)
    objective = c[0].selectbox("Objective", ["cost", "time", "pareto"], key=P + "objective")
    headroom = c[1].slider("Memory headroom", 0.0, 0.5, key=P + "headroom")
    st.session_state.setdefault(P + "top", 10)
    top = c[2].number_input("Plans to show", 1, 100, key=P + "top")
    query = {
        "plan_hw": ",".join(hardware),
        "plan_max_gpus": str(int(max_gpus)),
        "plan_deadline": str(float(deadline)),
        "plan_budget": str(float(budget)),
        "plan_objective": objective,
        "plan_headroom": str(float(headroom)),
    }
    return (
        hardware,
        int(max_gpus),
        float(deadline),
        float(budget),
        objective,
        float(headroom),
        int(top),
        query,
    )


def render() -> None:
    st.header("Planner: which GPUs, how many, which layout")
    band = st.container()  # the best plan, once the search is ranked
    params = dict(st.query_params)
    fields = state.from_query(params)
    cons = _constraints(params)
    names = sorted(builtin_profiles())
    marker = {k: str(params.get(k, "")) for k in PLAN_DEFAULTS}
    if st.session_state.get(P + "written") != marker:
        st.session_state[P + "hw"] = [h for h in cons["plan_hw"].split(",") if h in names]
        for key in ("max_gpus", "deadline", "budget", "objective", "headroom"):
            st.session_state[P + key] = cons[f"plan_{key}"]
    st.caption(
        f"Model and workload from the training page: {state.model_label(fields)}, {fields['tokens']:.3g} "
        f"tokens, global batch {fields['global_batch']}, sequence {fields['seq_len']}."
    )
    hardware, max_gpus, deadline, budget, objective, headroom, top, query = _inputs(names)
    st.query_params.update(query)
    st.session_state[P + "written"] = query
    if not hardware:
        st.error("Hardware: choose at least one accelerator")
        return
    try:
        sc = scenario_from_dict(
            state.scenario_dict(
                {
                    **fields,
                    "gpus": 1,
                    "tp": 1,
                    "pp": 1,
                    "cp": 1,
                    "ep": 1,
                    "virtual_stages": 1,
                    "sequence_parallel": False,
                }
            ),
            names_only=True,
        )
        spec = PlanSpec(
            hardware=tuple(hardware), max_gpus=int(max_gpus), memory_headroom=0.0, objective="cost"
        )
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return
    result = _search(sc.model_dump_json(), spec.model_dump_json())
    started = time.perf_counter()
    table = _filtered(result.table, headroom, deadline, budget)
    caption = st.empty()
    caption.caption(
        f"{result.configurations_generated:,} configurations generated, {result.configurations_evaluated:,} "
        f"evaluated in {result.search_time_s:.2f} s (searched once for this model, workload and hardware; "
        f"objective, headroom, deadline and budget re-rank it); {len(table):,} satisfy every rule. Ranked by "
        "the upper end of each plan's cost range."
    )
    if table.empty:
        st.warning("No plan satisfies the constraints: relax the deadline, budget, GPU count or headroom.")
        return
    fig_key = (sc.model_dump_json(), spec.model_dump_json(), headroom, deadline, budget)
    if fig_key not in _FIGURES:  # the objective re-ranks the table, not the chart: keep its figure
        _FIGURES.clear()
        _FIGURES[fig_key] = charts.pareto(
            table.sample(min(len(table), 3000), random_state=0), pareto_front(table)
        )
    st.plotly_chart(_FIGURES[fig_key], key="chart_pareto")
    best = rank(table, objective, int(top), "high").reset_index(drop=True)
    caption.caption(
        f"{result.configurations_generated:,} configurations generated, {result.configurations_evaluated:,} "
        f"evaluated in {result.search_time_s:.2f} s (searched once for this model, workload and hardware; "
        f"objective, headroom, deadline and budget re-rank it); {len(table):,} satisfy every rule. Ranked by "
        f"the upper end of each plan's cost range; filtered and re-ranked in "
        f"{(time.perf_counter() - started) * 1e3:,.0f} ms."
    )
    with band:
        _answer(best.iloc[0], objective)
    st.dataframe(_readable(best), key="plans_table", hide_index=False)
    choice = st.selectbox(
        "Open a plan in the training page", list(range(1, len(best) + 1)), key="plan_choice"
    )
    if st.button("Open plan", key="open_plan"):
        row = best.iloc[int(choice) - 1]
        opened = {**fields, **_plan_fields(row)}
        if str(row["hardware"]) != fields["hardware"]:
            opened["usd_per_gpu_hour"] = 0.0  # the plan's hardware at its own profile price, as ranked
        st.query_params.from_dict(state.to_query(opened) | query | {"page": "Training"})
        st.session_state["goto_page"] = "Training"
        st.rerun()


def _answer(row: Any, objective: str) -> None:
    """The best plan first: cost with its range, days, GPUs, memory margin, price and its source."""
    from estimator.profiles import load_hardware

    hw = load_hardware(str(row["hardware"]))
    c = st.columns(5)
    c[0].metric(
        "Best plan's cost",
        fmt_usd(float(row["cost_usd"])),
        help=f"range {fmt_usd(float(row['cost_usd_low']))} – {fmt_usd(float(row['cost_usd_high']))}; "
        "plans are ranked by the upper end",
    )
    c[1].metric(
        "Days",
        f"{row['train_days']:,.1f}",
        help=f"range {row['train_days_low']:,.1f} – {row['train_days_high']:,.1f}",
    )
    c[2].metric("GPUs", f"{int(row['gpus']):,}", help=str(row["hardware"]))
    c[2].caption(str(row["hardware"]))
    c[3].metric(
        "Fits in memory",
        "yes",
        delta=f"{(hw.memory_bytes - row['memory_per_gpu_bytes']) / 2**30:+,.1f} GiB headroom",
        help="memory per GPU against the profile's capacity",
    )
    c[4].metric(
        "Price per GPU-hour",
        f"${row['usd_per_gpu_hour']:,.2f}",
        help=(
            f"{hw.display_name} profile price: {price.provider} {price.kind}, {price.date}"
            if (price := hw.default_price) is not None
            else "profile price"
        ),
    )
    st.caption(
        f"Ranked by {objective}: cost {fmt_usd(float(row['cost_usd_low']))} – "
        f"{fmt_usd(float(row['cost_usd_high']))}, tp {int(row['tp'])} · pp {int(row['pp'])} · cp "
        f"{int(row['cp'])} · dp {int(row['dp'])}, micro-batch {int(row['micro_batch'])}, "
        f"ZeRO-{int(row['zero'])}, "
        f"{row['recompute']} recompute, MFU {row['mfu']:.1%}."
    )


def _filtered(table: pd.DataFrame, headroom: float, deadline: float, budget: float) -> pd.DataFrame:
    from estimator.profiles import load_hardware

    if table.empty:
        return table
    sizes = {h: load_hardware(str(h)).memory_bytes for h in table["hardware"].unique()}  # once per profile
    capacity = table["hardware"].map(sizes).astype(float)
    keep = table["memory_per_gpu_bytes"] <= capacity * (1 - headroom)
    if deadline:
        keep &= table["train_days"] <= deadline
    if budget:
        keep &= table["cost_usd"] <= budget
    out = table[keep].copy()
    out["memory_fraction"] = out["memory_per_gpu_bytes"] / (capacity[keep] * (1 - headroom))
    return out


def _readable(best: pd.DataFrame) -> pd.DataFrame:
    """Key columns first, units and thousands separators."""
    frame = pd.DataFrame(
        {
            "hardware": best["hardware"],
            "gpus": best["gpus"].map(lambda v: f"{int(v):,}"),
            "cost": best["cost_usd_high"].map(fmt_usd),
            "days": best["train_days"].map(lambda v: f"{v:,.1f}"),
            "mfu": best["mfu"].map(lambda v: f"{v:.1%}"),
            "tp": best["tp"],
            "pp": best["pp"],
            "cp": best["cp"],
            "dp": best["dp"],
            "micro_batch": best["micro_batch"],
            "virtual_stages": best["virtual_stages"],
            "zero": best["zero"],
            "recompute": best["recompute"],
            "sequence_parallel": best["sequence_parallel"].map({True: "yes", False: "no"}),
            "memory": (best["memory_per_gpu_bytes"] / 2**30).map(lambda v: f"{v:,.1f} GiB"),
            "validated": best["validated"].map({True: "yes", False: "outside"}),
        }
    )
    frame.index = range(1, len(frame) + 1)
    return frame.rename(columns=SHOW)


_FIGURES: dict[tuple[Any, ...], Any] = {}  # the Pareto chart of the last filtered search
_SEARCHES: dict[tuple[str, str], Any] = {}  # this server's searches, newest last (a few kept)


def _search(scenario_json: str, spec_json: str) -> Any:
    """The plan search for this model, workload, hardware set and GPU limit: from this server's cache, or
    run now behind a progress bar."""
    from estimator.specs.scenario import Scenario

    key = (scenario_json, spec_json)
    if key in _SEARCHES:
        return _SEARCHES[key]
    bar = st.progress(0.0, text="Searching every layout…")

    def step(done: int, total: int, what: str) -> None:
        bar.progress(done / total, text=f"Searching every layout: {what}")

    result = plan(
        Scenario.model_validate_json(scenario_json),
        PlanSpec.model_validate_json(spec_json),
        progress=False,
        on_chunk=step,
    )
    bar.empty()
    _SEARCHES[key] = result
    while len(_SEARCHES) > 6:
        _SEARCHES.pop(next(iter(_SEARCHES)))
    return result


def _plan_fields(row: Any) -> dict[str, Any]:
    return {
        "hardware": str(row["hardware"]),
        "gpus": int(row["gpus"]),
        "tp": int(row["tp"]),
        "pp": int(row["pp"]),
        "cp": int(row["cp"]),
        "ep": int(row["ep"]),
        "micro_batch": int(row["micro_batch"]),
        "virtual_stages": int(row["virtual_stages"]),
        "zero_stage": int(row["zero"]),
        "recompute": str(row["recompute"]),
        "sequence_parallel": bool(row["sequence_parallel"]),
        "precision": str(row["precision"]),
    }
