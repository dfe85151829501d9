"""The base of every input spec: frozen, no unknown keys, no NaN or infinity, numbers that are numbers."""

from __future__ import annotations

import functools
import inspect
import types
import typing
from typing import Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationInfo, field_validator


@functools.cache
def _numeric_kinds(cls: type[BaseModel], name: str) -> tuple[bool, bool]:
    """(is the field a number, does it parse text itself) for field `name` of `cls`."""
    field = cls.model_fields[name]
    annotation = field.annotation
    args = (
        typing.get_args(annotation)
        if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union
        else (annotation,)
    )
    numeric = any(a in (int, float) for a in args)
    parses_text = any(isinstance(m, BeforeValidator) for m in field.metadata)
    return numeric, parses_text


class Frozen(BaseModel):
    """A frozen pydantic model that rejects unknown keys, non-finite floats, and booleans or text given for
    a number (`tokens: true` is not one token, `gpus: "1024"` is not 1024; a byte or bandwidth field that
    reads units, such as `80 GiB`, still takes text)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, validate_default=True, defer_build=True
    )

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name is None or not isinstance(value, bool | str):
            return value
        numeric, parses_text = _numeric_kinds(cls, info.field_name)
        if not numeric:
            return value
        if isinstance(value, bool):
            raise ValueError(f"must be a number, not the boolean {str(value).lower()}")
        if not parses_text:
            raise ValueError(f"must be a number, not the text {value!r} (write it without quotes)")
        return value

    # pydantic inspects a validator's signature once per field it applies to (about 300 fields: a third of
    # the CLI's schema build); a precomputed signature answers `inspect.signature` at once
    _numbers_are_numbers.__func__.__signature__ = inspect.signature(  # type: ignore[attr-defined]
        _numbers_are_numbers.__func__  # type: ignore[attr-defined]
    )
