"""Named model presets (GPT-2/3, BERT, T5, Llama 2/3, Mixtral, the Megatron runs), each with its source."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from estimator.errors import unknown_name
from estimator.specs.model import ModelSpec
from estimator.textio import read_yaml

_DATA = Path(__file__).resolve().parent / "data" / "models.yaml"


@functools.cache
def _entries() -> dict[str, dict[str, Any]]:
    doc = read_yaml(_DATA)
    return {entry["name"]: entry for entry in doc["models"]}


@functools.cache
def _validated(name: str) -> ModelSpec:
    return ModelSpec.model_validate(_entries()[name])


def model_presets() -> dict[str, ModelSpec]:
    """All presets by name."""
    return {name: _validated(name) for name in _entries()}


def preset_names() -> list[str]:
    """The preset names, without validating every preset (start-up time)."""
    return list(_entries())


def get_model(name: str) -> ModelSpec:
    """One preset by name; an unknown name is answered with the closest known ones."""
    entries = _entries()
    if name not in entries:
        raise unknown_name("model preset", name, entries)
    return _validated(name)
