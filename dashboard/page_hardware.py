"""Hardware page: the training page's job on every accelerator, side by side (setups that do not fit are
marked in red and get no cost)."""

from __future__ import annotations

import json
from typing import Any

import state
import streamlit as st

from estimator import figures as charts
from estimator.errors import InputError
from estimator.scenario_io import scenario_from_dict
from estimator.sweeps import hardware_comparison
from estimator.units import fmt_usd


@st.cache_data(show_spinner="Estimating the job on every accelerator…", max_entries=16)
def _table(scenario_json: str):  # type: ignore[no-untyped-def]
    return hardware_comparison(scenario_from_dict(json.loads(scenario_json), names_only=True))


def _answer(table: Any) -> None:
    """The cheapest accelerator on which the job fits, first; loud when it fits on none."""
    from estimator.profiles import load_hardware

    fits = table[table["fits_in_memory"].fillna(False).astype(bool) & table["cost_usd"].notna()]
    if fits.empty:
        st.error(
            "DOES NOT FIT on any accelerator with this layout: no cost is given. Raise tp·pp, recompute, "
            "use ZeRO-3 or more GPUs on the training page."
        )
        return
    best = fits.sort_values("cost_usd").iloc[0]
    hw = load_hardware(str(best["hardware"]))
    price = hw.default_price
    c = st.columns([2.2, 1.2, 1, 1, 1.3])
    c[0].metric("Cheapest that fits", str(best["hardware"]))
    c[1].metric("Cost", fmt_usd(float(best["cost_usd"])))
    c[2].metric("Days", f"{best['days']:,.1f}")
    c[3].metric("GPUs", f"{int(best['gpus']):,}")
    c[4].metric(
        "Price per GPU-hour",
        "none" if price is None else f"${price.usd_per_gpu_hour:,.2f}",
        help=None if price is None else f"{price.provider} {price.kind}, {price.date}",
    )
    runs = table["error"].fillna("").astype(str).eq("") if "error" in table else True
    fit = table["fits_in_memory"].fillna(False).astype(bool)
    parts = [
        (int((runs & ~fit).sum()), "do not fit in memory (red bars, no cost)"),
        (int((~runs).sum()) if "error" in table else 0, "cannot run this layout (the table says why)"),
        (int((fit & table["cost_usd"].isna()).sum()), "fit but have no price in their profile"),
    ]
    said = "; ".join(f"{n} {text}" for n, text in parts if n)
    if said:
        st.warning(f"Of {len(table)} accelerators: {said}.")


def render() -> None:
    st.header("Hardware: the same job on every accelerator")
    band = st.container()
    fields = state.from_query(dict(st.query_params))
    try:
        data = state.scenario_dict(fields)
        scenario_from_dict(data, names_only=True)
    except InputError as exc:
        st.error(f"The training page's scenario is not valid: {exc}")
        return
    st.caption(
        f"{state.model_label(fields)}, {fields['tokens']:.3g} tokens, layout tp {fields['tp']} pp "
        f"{fields['pp']} (from the training page). Each profile's own dated price; rows the layout cannot "
        "run on say why. Red: does not fit in memory (no cost)."
    )
    table = _table(json.dumps(data, sort_keys=True))
    with band:
        _answer(table)
    c = st.columns(3)
    c[0].plotly_chart(charts.hardware_bars(table, "days", "Days"), key="hw_days")
    c[1].plotly_chart(charts.hardware_bars(table, "cost_usd", "USD"), key="hw_cost")
    c[2].plotly_chart(charts.hardware_bars(table, "energy_kwh", "Energy (kWh)"), key="hw_energy")
    shown = table.copy()
    if "fits_in_memory" in shown:
        shown.insert(1, "fits", shown.pop("fits_in_memory").map({True: "yes", False: "NO"}))
    if "cost_usd" in shown:
        shown["cost_usd"] = [
            ("not priced" if v is None or v != v else fmt_usd(float(v))) for v in shown["cost_usd"]
        ]
    config = {
        "days": st.column_config.NumberColumn("days", format="%.1f"),
        "mfu": st.column_config.NumberColumn("MFU", format="percent"),
        "energy_kwh": st.column_config.NumberColumn("energy (kWh)", format="localized"),
        "step_time_s": st.column_config.NumberColumn("step (s)", format="%.2f"),
        "cost_usd": st.column_config.TextColumn("cost"),
    }
    st.dataframe(shown, key="hw_table", column_config=config, hide_index=True)
