"""Planner page: constraints in, the cost–time Pareto front and the top plans out; a plan opens in the
training page."""

from __future__ import annotations

from typing import Any

import state
import streamlit as st

from estimator import figures as charts
from estimator.errors import InputError
from estimator.planner import plan
from estimator.planner.rank import pareto_front, rank
from estimator.profiles import builtin_profiles
from estimator.scenario_io import scenario_from_dict
from estimator.specs.plan import PlanSpec

SHOW = [
    "hardware",
    "gpus",
    "tp",
    "pp",
    "cp",
    "dp",
    "micro_batch",
    "virtual_stages",
    "zero",
    "recompute",
    "sequence_parallel",
    "step_time_s",
    "train_days",
    "cost_usd",
    "cost_usd_high",
    "validated",
    "mfu",
    "memory_fraction",
]


def render() -> None:
    st.header("Planner: which GPUs, how many, which layout")
    fields = state.from_query(dict(st.query_params))
    st.caption(
        f"Model and workload from the training page: {fields['model']}, {fields['tokens']:.3g} tokens, "
        f"global batch {fields['global_batch']}, sequence {fields['seq_len']}."
    )
    c = st.columns(4)
    hardware = c[0].multiselect(
        "Hardware", sorted(builtin_profiles()), default=["a100-sxm-80gb", "h100-sxm-80gb"]
    )
    max_gpus = c[1].number_input("Max GPUs", 1, 100_000, 1024)
    deadline = c[2].number_input("Deadline (days, 0: none)", 0.0, 10_000.0, 90.0)
    budget = c[3].number_input("Budget (USD, 0: none)", 0.0, 1e10, 0.0, format="%.0f")
    c = st.columns(3)
    objective = c[0].selectbox("Objective", ["cost", "time", "pareto"])
    headroom = c[1].slider("Memory headroom", 0.0, 0.5, 0.10)
    top = c[2].number_input("Plans to show", 1, 100, 10)
    if not hardware:
        st.error("Hardware: choose at least one accelerator")
        return
    try:
        spec = PlanSpec(
            hardware=tuple(hardware),
            max_gpus=int(max_gpus),
            deadline_days=deadline or None,
            budget_usd=budget or None,
            memory_headroom=headroom,
            objective=objective,
        )
        sc = scenario_from_dict(
            {
                **state.scenario_dict(
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
                )
            },
            names_only=True,
        )
    except (InputError, ValueError) as exc:
        st.error(str(exc))
        return
    with st.spinner("Searching…"):
        result = _search(sc.model_dump_json(), spec.model_dump_json())
    st.caption(
        f"{result.configurations_generated:,} configurations generated, {result.configurations_evaluated:,} "
        f"evaluated in {result.search_time_s:.2f} s; "
        f"{len(result.table):,} satisfy every rule."
    )
    if result.table.empty:
        st.warning("No plan satisfies the constraints: relax the deadline, budget, GPU count or headroom.")
        return
    st.plotly_chart(
        charts.pareto(
            result.table.sample(min(len(result.table), 3000), random_state=0), pareto_front(result.table)
        ),
        key="chart_pareto",
    )
    best = rank(result.table, objective, int(top), spec.rank_by).reset_index(drop=True)
    st.dataframe(best[SHOW], key="plans_table")
    choice = st.selectbox(
        "Open a plan in the training page", list(range(1, len(best) + 1)), key="plan_choice"
    )
    if st.button("Open plan", key="open_plan"):
        row = best.iloc[int(choice) - 1]
        st.query_params.from_dict(state.to_query({**fields, **_plan_fields(row)}) | {"page": "Training"})
        st.session_state["goto_page"] = "Training"
        st.rerun()


@st.cache_data(show_spinner=False, max_entries=8)
def _search(scenario_json: str, spec_json: str) -> Any:
    from estimator.specs.scenario import Scenario

    sc = Scenario.model_validate_json(scenario_json)
    return plan(sc, PlanSpec.model_validate_json(spec_json), progress=False)


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
