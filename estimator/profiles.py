"""Hardware profiles: one YAML file per accelerator in hardware_profiles/, file name == profile name."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from pydantic import ValidationError

from estimator.errors import InputError, format_validation_error, unknown_name
from estimator.specs.hardware import HardwareSpec
from estimator.textio import read_yaml

PROFILES_ENV = "ESTIMATOR_PROFILES_DIR"


def profiles_dir() -> Path:
    """The directory of the built-in profiles (override with $ESTIMATOR_PROFILES_DIR)."""
    env = os.environ.get(PROFILES_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "hardware_profiles"


def load_profile_file(path: Path) -> HardwareSpec:
    """Load and validate one profile YAML."""
    data = read_yaml(path, what="hardware profile")
    if not isinstance(data, dict):
        raise InputError(f"{path}: a hardware profile must be a mapping of fields")
    try:
        return HardwareSpec.model_validate(data)
    except ValidationError as exc:
        raise InputError(format_validation_error(exc, prefix=f"{path}: ")) from None


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
    path = profiles_dir() / f"{text}.yaml"
    if text.replace("-", "").replace("_", "").replace(".", "").isalnum() and path.is_file():
        return _one(str(path))  # read only the profile asked for (start-up time)
    profiles = builtin_profiles()
    if text not in profiles:
        raise unknown_name("hardware", text, profiles)
    return profiles[text]


@functools.cache
def _one(path: str) -> HardwareSpec:
    spec = load_profile_file(Path(path))
    if spec.name != Path(path).stem:
        raise InputError(f"{path}: profile name {spec.name!r} differs from its file name {Path(path).stem!r}")
    return spec


def hardware_names() -> list[str]:
    """Names of the built-in profiles."""
    return sorted(builtin_profiles())


def clear_cache() -> None:
    """Forget profiles read so far (after `estimator validate --fit --write` rewrote them)."""
    _builtin.cache_clear()
    _one.cache_clear()
