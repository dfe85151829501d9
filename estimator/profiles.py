"""Hardware profiles: one YAML file per accelerator in hardware_profiles/, file name == profile name."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from estimator.errors import InputError, unknown_name
from estimator.specs.hardware import HardwareSpec

PROFILES_ENV = "ESTIMATOR_PROFILES_DIR"


def profiles_dir() -> Path:
    """The directory of the built-in profiles (override with $ESTIMATOR_PROFILES_DIR)."""
    env = os.environ.get(PROFILES_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "hardware_profiles"


def read_yaml(path: Path) -> Any:
    """Read a YAML file with `yaml.safe_load`; syntax errors come back as InputError with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{path}: YAML syntax error{where}: {problem}") from None


def load_profile_file(path: Path) -> HardwareSpec:
    """Load and validate one profile YAML."""
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: a hardware profile must be a mapping of fields")
    try:
        return HardwareSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(f"{path}: invalid hardware profile:\n{exc}") from None


@functools.cache
def _builtin(directory: str) -> dict[str, HardwareSpec]:
    out: dict[str, HardwareSpec] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        spec = load_profile_file(path)
        if spec.name != path.stem:
            raise InputError(f"{path}: profile name {spec.name!r} differs from its file name {path.stem!r}")
        out[spec.name] = spec
    return out


def builtin_profiles() -> dict[str, HardwareSpec]:
    """All built-in profiles by name."""
    return dict(_builtin(str(profiles_dir())))


def load_hardware(ref: str | Path, base_dir: Path | None = None) -> HardwareSpec:
    """A profile by name, or from a path to a profile YAML (relative to `base_dir`)."""
    text = str(ref)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        path = Path(text)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        return load_profile_file(path)
    profiles = builtin_profiles()
    if text not in profiles:
        raise unknown_name("hardware", text, profiles)
    return profiles[text]
