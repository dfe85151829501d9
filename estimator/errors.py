"""Errors a user can cause, with messages that name the field and what would be right."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class InputError(ValueError):
    """Bad user input that is not a pydantic ValidationError (unknown names, unreadable files)."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> InputError:
    """An InputError for an unknown preset/profile name, suggesting the closest known names."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return InputError(f"unknown {kind} {name!r}{hint} (known: {', '.join(names)})")


def _shown(value: Any) -> str:
    if isinstance(value, dict | list | tuple) or value is None:
        return ""
    text = repr(value)
    return f" (got {text[:80]}{'…' if len(text) > 80 else ''})"


def format_validation_error(exc: Any, prefix: str = "", names: dict[str, str] | None = None) -> str:
    """One line per problem of a pydantic ValidationError: `field.path: message (got value)`.

    `names` maps a field name to the name the user wrote (a config.json key, say), so that the message
    names what is in their file; pydantic's documentation URLs and internal type names are left out.
    """
    lines: list[str] = []
    for err in exc.errors(include_url=False):
        parts = [names.get(str(p), str(p)) if names else str(p) for p in err["loc"]]
        loc = ".".join(parts)
        msg = _plain(err["msg"].removeprefix("Value error, "), err.get("type", ""))
        if not loc:  # a rule across fields: its message names the fields itself, one line each
            lines.extend(f"{prefix}{part}" for part in msg.split("; "))
            continue
        lines.append(f"{prefix}{loc}: {msg}{_shown(err.get('input'))}")
    return "\n".join(lines)


_PLAIN = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "extra_forbidden": "unknown field (not one this input has; check the spelling)",
    "missing": "required field is missing",
    "finite_number": "must be a finite number",
    "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields",
}


def _plain(msg: str, kind: str) -> str:
    """Pydantic's wording where it is clear, plain words where it names internal types ("a int")."""
    return _PLAIN.get(kind, msg)


def require_finite(doc: Any, hint: str, path: str = "") -> None:
    """Raise an InputError naming the first non-finite number in a (nested) result: no NaN or infinity may
    leave the tool. `hint` says which inputs can cause it (an absurd peak, bandwidth or rate)."""
    import json
    import math

    if not path:
        try:  # the common case, checked in C: nothing to find
            json.dumps(doc, allow_nan=False)
            return
        except ValueError:
            pass

    if isinstance(doc, dict):
        for key, value in doc.items():
            require_finite(value, hint, f"{path}.{key}" if path else str(key))
    elif isinstance(doc, list | tuple):
        for i, value in enumerate(doc):
            require_finite(value, hint, f"{path}[{i}]")
    elif isinstance(doc, float) and not math.isfinite(doc):
        raise InputError(f"the estimate is not finite ({path} = {doc}): {hint}")
