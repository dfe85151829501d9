"""Bad values on every widget of the dashboard's input pages: an error message, never an exception.
ESTIMATOR_FUZZ_WIDGETS=all tries every option of every select box (slow); the default tries the extremes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import assert_no_defects

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
ALL = os.environ.get("ESTIMATOR_FUZZ_WIDGETS") == "all"


def _fresh(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["page"] = page
    return at.run()


@pytest.mark.parametrize("page", ["Training", "Serving", "Planner"])
def test_number_inputs_at_their_extremes(page: str) -> None:
    at = _fresh(page)
    labels = [n.label for n in at.number_input]
    assert labels
    for label in labels:
        for pick in ("min", "max"):
            at = _fresh(page)
            widget = next(n for n in at.number_input if n.label == label)
            value = getattr(widget, pick)
            if value is None:
                continue
            widget.set_value(value).run()
            assert_no_defects(at, errors_allowed=True)


@pytest.mark.parametrize("page", ["Training", "Serving"])
def test_every_select_option(page: str) -> None:
    at = _fresh(page)
    for index, box in enumerate(at.selectbox):
        options = box.options if ALL else box.options[:1] + box.options[-1:]
        for option in options:
            at = _fresh(page)
            at.selectbox[index].set_value(option).run()
            assert_no_defects(at, errors_allowed=True)


def test_impossible_layouts_show_errors_not_exceptions() -> None:
    for changes in (
        {"gpus": 3},
        {"tp": 3},
        {"pp": 7},
        {"global_batch": 1001},
        {"seq_len": 100000},
        {"virtual_stages": 5},
    ):
        at = _fresh("Training")
        for label, value in changes.items():
            names = {
                "gpus": "GPUs",
                "global_batch": "Global batch (sequences)",
                "seq_len": "Sequence length",
                "virtual_stages": "Virtual stages",
            }
            next(n for n in at.number_input if n.label == names.get(label, label)).set_value(value).run()
        assert_no_defects(at, errors_allowed=True)
        assert at.error, changes


def test_query_params_with_garbage() -> None:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in {
        "gpus": "lots",
        "tp": "-3",
        "model": "<script>",
        "hardware": "nonesuch",
        "tokens": "nan",
        "page": "Nowhere",
        "flash_attention": "maybe",
    }.items():
        at.query_params[key] = value
    at.run()
    assert_no_defects(at)
    assert len(at.warning) >= 4  # every unusable parameter is named in a notice
