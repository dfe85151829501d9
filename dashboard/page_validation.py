"""Validation page: predicted vs published, measured runs — why the numbers can be trusted, and how far."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from estimator import figures as charts
from estimator.validation import summary, validate


def render() -> None:
    st.header("Validation against published runs")
    rows = validate()
    frame = pd.DataFrame([r.as_dict() for r in rows])
    s = summary(rows)
    c = st.columns(4)
    c[0].metric("Runs", f"{int(s['runs'])}")
    c[1].metric("Median |error|", f"{s['median_abs_error']:.1%}")
    c[2].metric("Max |error|", f"{s['max_abs_error']:.1%}")
    c[3].metric("Mean error", f"{s['mean_error']:+.1%}")
    st.plotly_chart(charts.validation_scatter(frame), key="chart_validation")
    st.dataframe(frame, key="validation_table")
    st.caption(
        "Iteration times of Narayanan et al. 2021 (Table 1) and Korthikanti et al. 2022 (Table 5), A100 "
        "80GB. "
        "One global constant is fitted (training_gemm_fraction); fitted on either paper alone it predicts "
        "the "
        "other within 4.4 % median. Other hardware gets a ±10 % wider range."
    )
