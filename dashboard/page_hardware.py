"""Hardware page: the training page's job on every accelerator, side by side."""

from __future__ import annotations

import state
import streamlit as st

from estimator import figures as charts
from estimator.errors import InputError
from estimator.scenario_io import scenario_from_dict
from estimator.sweeps import hardware_comparison


def render() -> None:
    st.header("Hardware: the same job on every accelerator")
    fields = state.from_query(dict(st.query_params))
    try:
        sc = scenario_from_dict(state.scenario_dict(fields), names_only=True)
    except InputError as exc:
        st.error(f"The training page's scenario is not valid: {exc}")
        return
    table = hardware_comparison(sc)
    st.caption(
        "Same model, tokens and layout; each profile's own dated price. Rows the layout cannot run on say "
        "why."
    )
    c = st.columns(3)
    c[0].plotly_chart(charts.hardware_bars(table, "days", "Days"), key="hw_days")
    c[1].plotly_chart(charts.hardware_bars(table, "cost_usd", "USD"), key="hw_cost")
    c[2].plotly_chart(charts.hardware_bars(table, "energy_kwh", "Energy (kWh)"), key="hw_energy")
    st.dataframe(table, key="hw_table")
