"""Validation page: predicted vs published, measured runs — why the numbers can be trusted, and how far."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from estimator import figures as charts
from estimator.validation import stored_summary


def render() -> None:
    st.header("Validation against published runs")
    doc = stored_summary()
    frame = pd.DataFrame(doc["rows"])
    which = st.radio("Runs", ["all", "a100", "modern"], horizontal=True, key="validation_set")
    sets = doc["sets"][which]
    cv, ins = sets["cross_validated"], sets["in_sample"]
    c = st.columns(4)
    c[0].metric("Runs", f"{int(cv['runs'])}")
    c[1].metric("Median |error|, leave-one-source-out", f"{cv['median_abs_error']:.1%}")
    c[2].metric("Max |error|, leave-one-source-out", f"{cv['max_abs_error']:.1%}")
    c[3].metric("Median |error|, in sample", f"{ins['median_abs_error']:.1%}")
    if which != "all":
        a100 = frame["generation"] == "ampere"
        frame = frame[a100] if which == "a100" else frame[~a100]
    st.plotly_chart(charts.validation_scatter(frame), key="chart_validation")
    st.dataframe(frame, key="validation_table")
    by_gen = pd.DataFrame(
        {
            gen: {
                "runs": int(g["cross_validated"]["runs"]),
                "in-sample median": f"{g['in_sample']['median_abs_error']:.1%}",
                "leave-one-source-out median": f"{g['cross_validated']['median_abs_error']:.1%}",
                "leave-one-source-out max": f"{g['cross_validated']['max_abs_error']:.1%}",
            }
            for gen, g in doc["by_generation"].items()
        }
    ).T
    st.dataframe(by_gen, key="validation_generations")
    st.caption(
        "Seconds per optimizer step of 68 published runs: Megatron-LM 2021–22 on A100 (Narayanan et al. "
        "Table 1, Korthikanti et al. Table 5) and, on H100/H200/B200/GB200/MI300X/MI325X, MLPerf Training "
        "v3.0–v5.0, torchtitan, the Megatron-Core README table and NeMo 24.07. A few physical constants are "
        "fitted per hardware generation (GEMM share sustained, non-GEMM HBM efficiency, network efficiency, "
        "a per-step cost); the headline is leave-one-source-out: each paper or benchmark family predicted "
        f"by the calibration fitted without it. Written by `{doc['command']}` on {doc['date']}."
    )
