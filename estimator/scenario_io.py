"""Load scenarios from YAML files or mappings; turn validation errors into messages that name fields."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from estimator.errors import InputError, format_validation_error
from estimator.specs.scenario import Scenario
from estimator.textio import read_yaml

DEFAULT_SCENARIO = Path(__file__).resolve().parent / "data" / "scenarios" / "gpt3-175b-a100.yaml"
SERVING_SCENARIOS = Path(__file__).resolve().parent / "data" / "scenarios"
DEFAULT_INFERENCE_SCENARIO = SERVING_SCENARIOS / "serving-customer-service.yaml"
MAX_SCENARIO_BYTES = 1_000_000


def scenario_from_dict(data: Any, base_dir: Path | None = None, *, names_only: bool = False) -> Scenario:
    """Validate a mapping into a Scenario; errors become InputError naming each field. `names_only`: the
    model and hardware must be shipped presets/profiles or mappings, never paths (the dashboard)."""
    if not isinstance(data, dict):
        raise InputError("a scenario must be a YAML mapping with at least model, hardware, gpus and training")
    try:
        return Scenario.model_validate(
            data, context={"base_dir": str(base_dir) if base_dir else None, "names_only": names_only}
        )
    except ValidationError as exc:
        raise InputError(format_validation_error(exc)) from None


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Load a scenario YAML (the embedded GPT-3 175B default when `path` is None)."""
    p = Path(path) if path is not None else DEFAULT_SCENARIO
    return scenario_from_dict(read_yaml(p, limit=MAX_SCENARIO_BYTES, what="scenario file"), base_dir=p.parent)


def load_plan_scenario(path: str | Path | None = None) -> Scenario:
    """Load a scenario for `estimator plan`: its layout (`gpus`, `parallelism`) is what the planner
    searches, so it is replaced by one GPU with no parallelism before validation and need not be valid."""
    p = Path(path) if path is not None else DEFAULT_SCENARIO
    data = read_yaml(p, limit=MAX_SCENARIO_BYTES, what="scenario file")
    if isinstance(data, dict):
        data = {**data, "gpus": 1, "parallelism": {}}
    return scenario_from_dict(data, base_dir=p.parent)


def load_inference_scenario(path: str | Path | None = None) -> Any:
    """Load an inference (serving) scenario YAML; the default is the customer-service assistant."""
    from estimator.specs.inference import InferenceScenario

    p = Path(path) if path is not None else DEFAULT_INFERENCE_SCENARIO
    data = read_yaml(p, limit=MAX_SCENARIO_BYTES, what="scenario file")
    if not isinstance(data, dict):
        raise InputError("an inference scenario must be a YAML mapping with at least model and hardware")
    try:
        return InferenceScenario.model_validate(data, context={"base_dir": str(p.parent)})
    except ValidationError as exc:
        raise InputError(format_validation_error(exc)) from None
