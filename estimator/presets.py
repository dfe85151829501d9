"""Named model presets (GPT-2/3, BERT, T5, Llama 2/3, Mixtral, the Megatron runs), each with its source."""

from __future__ import annotations

import functools
from pathlib import Path

from estimator.errors import unknown_name
from estimator.specs.model import ModelSpec
from estimator.textio import read_yaml

_DATA = Path(__file__).resolve().parent / "data" / "models.yaml"


@functools.cache
def _presets() -> dict[str, ModelSpec]:
    doc = read_yaml(_DATA)
    return {entry["name"]: ModelSpec.model_validate(entry) for entry in doc["models"]}


def model_presets() -> dict[str, ModelSpec]:
    """All presets by name."""
    return dict(_presets())


def get_model(name: str) -> ModelSpec:
    """One preset by name; an unknown name is answered with the closest known ones."""
    presets = _presets()
    if name not in presets:
        raise unknown_name("model preset", name, presets)
    return presets[name]
