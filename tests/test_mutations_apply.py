"""Every mutation of scripts/mutate.py still finds the text it mutates exactly once (a stale mutation is a
survivor that tests nothing)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("mutate", ROOT / "scripts" / "mutate.py")
assert _spec is not None and _spec.loader is not None
mutate = importlib.util.module_from_spec(_spec)
sys.modules["mutate"] = mutate  # dataclasses look their module up
_spec.loader.exec_module(mutate)


@pytest.mark.parametrize("m", mutate.MUTATIONS, ids=lambda m: m.key)
def test_mutation_text_is_found_once(m: object) -> None:
    text = (ROOT / m.path).read_text(encoding="utf-8")  # type: ignore[attr-defined]
    assert text.count(m.old) == 1, f"{m.key}: fix its text in scripts/mutate.py"  # type: ignore[attr-defined]
    assert m.old != m.new  # type: ignore[attr-defined]
