"""Ranking plans (by cost, by time, or the cost–time Pareto front) and turning a row back into a scenario."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from estimator.presets import model_presets
from estimator.specs.plan import Objective, RankBy
from estimator.specs.scenario import Scenario

SUFFIX = {"high": "_high", "central": "", "low": "_low"}


def pareto_front(table: pd.DataFrame, rank_by: RankBy = "high") -> pd.DataFrame:
    """Plans no other plan beats on both cost and time (at the chosen end of their ranges), fastest first."""
    days, usd = f"train_days{SUFFIX[rank_by]}", f"cost_usd{SUFFIX[rank_by]}"
    ordered = table.sort_values([days, usd], kind="stable")
    cost = ordered[usd].to_numpy()
    best = np.minimum.accumulate(np.concatenate([[np.inf], cost[:-1]]))
    return ordered[cost < best]


TIE = 0.01  # plans within 1 % of the best on the objective are ties: the model cannot tell them apart


def rank(table: pd.DataFrame, objective: Objective, top: int, rank_by: RankBy = "high") -> pd.DataFrame:
    """The top `top` plans for the objective at the chosen end of their ranges. Plans within TIE of the
    best are ranked among themselves by the other metric (a cheaper plan that is as fast, a faster plan
    that costs the same), inside the validated domain first, then fewer GPUs."""
    if table.empty:
        return table
    if objective == "pareto":
        return pareto_front(table, rank_by).head(top)
    days, usd = f"train_days{SUFFIX[rank_by]}", f"cost_usd{SUFFIX[rank_by]}"
    first, second = (usd, days) if objective == "cost" else (days, usd)
    tied = table[first] <= table[first].min() * (1 + TIE)
    outside = ~table["validated"].astype(bool) if "validated" in table else tied & False
    order = pd.DataFrame(
        {"group": ~tied, "outside": outside, "first": table[first], "second": table[second]},
        index=table.index,
    )
    keys = ["group", "outside", "second", "first"] if tied.any() else ["first", "second"]
    order = order.assign(gpus=table["gpus"]).sort_values([*keys, "gpus"], kind="stable")
    ranked = table.loc[order.index]
    rest = ranked[~tied.loc[order.index]].sort_values([first, second, "gpus"], kind="stable")
    return pd.concat([ranked[tied.loc[order.index]], rest]).head(top)


def _model_ref(sc: Scenario) -> Any:
    preset = model_presets().get(sc.model.name)
    return sc.model.name if preset == sc.model else sc.model.model_dump(mode="json")


def plan_scenario(sc: Scenario, row: pd.Series, index: int) -> dict[str, Any]:
    """A complete scenario mapping for one plan, loadable by `estimator train`."""
    training = sc.training.model_dump(mode="json", exclude_none=True)
    training["global_batch"] = int(row["global_batch"])
    return {
        "name": f"{sc.name}: plan {index}",
        "model": _model_ref(sc),
        "hardware": str(row["hardware"]),
        "gpus": int(row["gpus"]),
        "parallelism": {
            "tp": int(row["tp"]),
            "pp": int(row["pp"]),
            "cp": int(row["cp"]),
            "ep": int(row["ep"]),
            "sequence_parallel": bool(row["sequence_parallel"]),
            "virtual_stages": int(row["virtual_stages"]),
            "zero_stage": int(row["zero"]),
            "micro_batch": int(row["micro_batch"]),
            "recompute": str(row["recompute"]),
        },
        "precision": str(row["precision"]),
        "training": training,
        "pricing": sc.pricing.model_dump(mode="json", exclude_none=True)
        if str(row["hardware"]) == sc.hardware.name
        else {},
        "energy": sc.energy.model_dump(mode="json"),
        "assumptions": sc.assumptions.model_dump(mode="json"),
        **({"finetune": sc.finetune.model_dump(mode="json")} if sc.finetune is not None else {}),
    }
