"""Scenarios page: save the current scenario, compare saved ones side by side, download YAML, JSON, CSV."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import yaml

from estimator.errors import InputError
from estimator.render import to_csv, to_json
from estimator.scenario_io import scenario_from_dict
from estimator.training import estimate_training


@st.cache_data(show_spinner=False, max_entries=4)
def _html_report(scenario_yaml: str) -> str:
    """The cost report of the scenario, self-contained HTML (charts interactive, Plotly inlined)."""
    from estimator.report.content import build_report
    from estimator.report.document import document
    from estimator.report.render import to_html

    report = build_report(
        [scenario_from_dict(yaml.safe_load(scenario_yaml), names_only=True)], alternatives=False
    )
    return to_html(document(report))


def render() -> None:
    st.header("Scenarios: save, compare, download")
    saved: dict[str, dict] = st.session_state.setdefault("saved", {})  # type: ignore[type-arg]
    current = st.session_state.get("current_scenario")
    if current is None:
        st.info("Open the training page first: its scenario is the one saved here.")
    else:
        name = st.text_input("Name", "scenario", max_chars=100)
        if st.button("Save the current scenario", key="save"):
            saved[name] = current
        try:
            est = estimate_training(scenario_from_dict(current, names_only=True))
        except InputError as exc:
            st.error(str(exc))
            return
        c = st.columns(4)
        c[0].download_button(
            "Scenario (YAML)", yaml.safe_dump(current, sort_keys=False), file_name="scenario.yaml"
        )
        c[1].download_button("Estimate (JSON)", to_json(est), file_name="estimate.json")
        c[2].download_button("Estimate (CSV)", to_csv(est), file_name="estimate.csv")
        c[3].download_button(
            "Report (HTML, offline)",
            _html_report(yaml.safe_dump(current, sort_keys=False)),
            file_name="report.html",
            mime="text/html",
        )
    if saved:
        rows = []
        for label, data in saved.items():
            e = estimate_training(scenario_from_dict(data, names_only=True))
            rows.append(
                {
                    "scenario": label,
                    "model": e.model,
                    "hardware": e.hardware,
                    "gpus": e.gpus,
                    "days": e.train_time_s / 86400,
                    "cost_usd": e.cost_usd,
                    "mfu": e.mfu,
                    "memory_GiB": e.memory_per_gpu_bytes["total"] / 2**30,
                    "energy_MWh": e.energy_kwh / 1000,
                }
            )
        st.dataframe(pd.DataFrame(rows), key="compare_table")
