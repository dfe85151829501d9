"""Errors a user can cause, with messages that name the field and what would be right."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class InputError(ValueError):
    """Bad user input that is not a pydantic ValidationError (unknown names, unreadable files)."""


def unknown_name(kind: str, name: str, known: Iterable[str]) -> InputError:
    """An InputError for an unknown preset/profile name, suggesting the closest known names."""
    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return InputError(f"unknown {kind} {name!r}{hint} (known: {', '.join(names)})")
