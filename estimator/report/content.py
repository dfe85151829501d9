"""What a cost report says: for each scenario its estimate, breakdowns, alternatives and assumptions,
all computed by the library (the report only formats them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from estimator.errors import InputError
from estimator.planner import plan
from estimator.planner.rank import plan_scenario, rank
from estimator.results import TrainingEstimate
from estimator.scenario_io import load_inference_scenario, load_scenario, scenario_from_dict
from estimator.serving import InferenceEstimate, estimate_inference
from estimator.specs.plan import PlanSpec
from estimator.specs.scenario import Scenario
from estimator.sweeps import gpu_count_sweep, hardware_comparison, sensitivity
from estimator.textio import read_yaml
from estimator.training import estimate_training
from estimator.validation import stored_summary

ALTERNATIVE_HARDWARE = ("a100-sxm-80gb", "h100-sxm-80gb", "h200-sxm-141gb", "b200-sxm-180gb")


@dataclass
class TrainingSection:
    scenario: Scenario
    estimate: TrainingEstimate
    recommended: dict[str, Any] | None  # a plan scenario plus its estimate, or None when the scenario is best
    alternatives: pd.DataFrame
    hardware: pd.DataFrame
    gpu_sweep: pd.DataFrame
    sensitivity: pd.DataFrame


@dataclass
class ServingSection:
    name: str
    estimate: InferenceEstimate


@dataclass
class Report:
    title: str
    generated: str
    training: list[TrainingSection] = field(default_factory=list)
    serving: list[ServingSection] = field(default_factory=list)
    validation: dict[str, float] = field(default_factory=dict)


def _alternatives(sc: Scenario, est: TrainingEstimate) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """The planner's best plans near the scenario (its hardware and three others, ½× to 2× its GPUs,
    done no later than it is); the cheapest becomes the recommendation when it beats the scenario."""
    days = est.train_time_s / 86400
    hardware = tuple(dict.fromkeys((sc.hardware.name, *ALTERNATIVE_HARDWARE)))
    spec = PlanSpec(
        hardware=hardware,
        min_gpus=max(1, sc.gpus // 2),
        max_gpus=sc.gpus * 2,
        deadline_days=days * 1.0001,
        precisions=(sc.precision,),
        global_batch=(sc.training.global_batch,),
        objective="cost",
    )
    template = sc.model_copy(update={"plan": spec})
    try:
        result = plan(template, spec, progress=False)
    except InputError:
        return pd.DataFrame(), None
    top = rank(result.table, "cost", 6, spec.rank_by)
    if top.empty:
        return top, None
    best = top.iloc[0]
    recommended = None
    if est.cost_usd is None or best["cost_usd"] < est.cost_usd * 0.999:
        scenario = plan_scenario(sc, best, 1)
        recommended = {"scenario": scenario, "estimate": estimate_training(scenario_from_dict(scenario))}
    return top.reset_index(drop=True), recommended


def training_section(sc: Scenario, alternatives: bool = True) -> TrainingSection:
    est = estimate_training(sc)
    alt, rec = _alternatives(sc, est) if alternatives else (pd.DataFrame(), None)
    return TrainingSection(
        sc,
        est,
        rec,
        alt,
        hardware_comparison(sc, list(ALTERNATIVE_HARDWARE)),
        gpu_count_sweep(sc),
        sensitivity(sc),
    )


def is_inference_file(path: Path) -> bool:
    data = read_yaml(path)
    return isinstance(data, dict) and ("inference" in data or "traffic" in data) and "training" not in data


def build_report(
    paths: list[str | Path | Scenario | None], *, alternatives: bool = True, title: str | None = None
) -> Report:
    """A report over scenarios or scenario files (training and serving files may be mixed; None: the
    embedded default)."""
    report = Report(title=title or "Training and serving cost report", generated=dt.date.today().isoformat())
    for raw in paths:
        if raw is None or isinstance(raw, Scenario):
            report.training.append(
                training_section(raw if raw is not None else load_scenario(None), alternatives)
            )
            continue
        path = Path(raw)
        if is_inference_file(path):
            sc = load_inference_scenario(path)
            report.serving.append(ServingSection(sc.name, estimate_inference(sc)))
        else:
            report.training.append(training_section(load_scenario(path), alternatives))
    report.validation = stored_summary()["sets"]["all"]["cross_validated"]
    return report
