"""Scenarios page: save the current scenario, compare saved ones side by side (a chart and a table),
download the scenario YAML, the estimate as JSON or CSV, and the cost report exactly as `estimator report`
writes it (same builder, same alternatives, same renderer)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import yaml

from estimator import figures as charts
from estimator.errors import InputError
from estimator.render import to_csv, to_json
from estimator.scenario_io import scenario_from_dict
from estimator.training import estimate_training
from estimator.units import fmt_usd


@st.cache_data(show_spinner="Building the report (the planner searches for alternatives)…", max_entries=4)
def _html_report(scenario_yaml: str) -> str:
    """`estimator report scenario.yaml -o report.html` of the current scenario: the same blocks, rendered
    by the same function (interactive charts, Plotly inlined)."""
    from estimator.report.content import build_report
    from estimator.report.document import document
    from estimator.report.render import to_html

    report = build_report(
        [scenario_from_dict(yaml.safe_load(scenario_yaml), names_only=True)], alternatives=True
    )
    return to_html(document(report))


@st.cache_data(show_spinner=False, max_entries=64)
def _row(label: str, scenario_yaml: str) -> dict[str, object]:
    e = estimate_training(scenario_from_dict(yaml.safe_load(scenario_yaml), names_only=True))
    return {
        "scenario": label,
        "model": e.model,
        "hardware": e.hardware,
        "gpus": e.gpus,
        "fits": bool(e.fits_in_memory),
        "days": e.train_time_s / 86400,
        "cost_usd": e.cost_usd if e.fits_in_memory else None,
        "mfu": e.mfu,
        "memory_gib": e.memory_per_gpu_bytes["total"] / 2**30,
        "energy_mwh": e.energy_kwh / 1000,
    }


def render() -> None:
    st.header("Scenarios: save, compare, download")
    saved: dict[str, dict] = st.session_state.setdefault("saved", {})  # type: ignore[type-arg]
    current = st.session_state.get("current_scenario")
    if current is None:
        st.info("Open the training page first: its scenario is the one saved here.")
    else:
        text = yaml.safe_dump(current, sort_keys=False)
        try:
            est = estimate_training(scenario_from_dict(current, names_only=True))
        except InputError as exc:
            st.error(str(exc))
            return
        band = st.columns(4)
        band[0].metric("Cost", "not priced" if est.cost_usd is None else fmt_usd(est.cost_usd))
        band[1].metric("Training time", f"{est.train_time_s / 86400:,.1f} days")
        band[2].metric("GPUs", f"{est.gpus:,}", help=str(est.hardware))
        band[3].metric("Fits in memory", "yes" if est.fits_in_memory else "NO")
        left, right = st.columns([3, 1])
        name = left.text_input("Name", f"scenario {len(saved) + 1}", max_chars=100)
        right.write("")
        if right.button("Save the current scenario", key="save"):
            saved[name] = current
        c = st.columns(4)
        c[0].download_button("Scenario (YAML)", text, file_name="scenario.yaml")
        c[1].download_button("Estimate (JSON)", to_json(est), file_name="estimate.json")
        c[2].download_button("Estimate (CSV)", to_csv(est), file_name="estimate.csv")
        if c[3].button("Build the report (HTML)", key="build_report", help="as `estimator report` writes it"):
            st.session_state["report_for"] = text
        if st.session_state.get("report_for") == text:
            st.download_button(
                "Download the report (HTML, offline: the same as `estimator report scenario.yaml -o r.html`)",
                _html_report(text),
                file_name="report.html",
                mime="text/html",
                key="report_download",
            )
    if not saved:
        st.caption("Saved scenarios appear here side by side.")
        return
    frame = pd.DataFrame(
        [_row(label, yaml.safe_dump(data, sort_keys=False)) for label, data in saved.items()]
    )
    st.plotly_chart(charts.compare_scenarios(frame), key="chart_compare")
    if not frame["fits"].all():
        st.error(
            "Red bars do not fit in memory and have no price: "
            + ", ".join(frame.loc[~frame["fits"], "scenario"])
        )
    shown = frame.assign(
        cost_usd=["not priced" if c is None or c != c else fmt_usd(float(c)) for c in frame["cost_usd"]]
    )
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "gpus": st.column_config.NumberColumn("GPUs", format="localized"),
            "fits": st.column_config.CheckboxColumn("fits"),
            "days": st.column_config.NumberColumn("days", format="%.1f"),
            "cost_usd": st.column_config.TextColumn("cost"),
            "mfu": st.column_config.NumberColumn("MFU", format="percent"),
            "memory_gib": st.column_config.NumberColumn("memory per GPU", format="%.1f GiB"),
            "energy_mwh": st.column_config.NumberColumn("energy", format="%.1f MWh"),
        },
        key="compare_table",
    )
    if st.button("Clear the saved scenarios", key="clear_saved"):
        saved.clear()
        st.rerun()
