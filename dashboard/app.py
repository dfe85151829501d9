"""The estimator's dashboard: `streamlit run dashboard/app.py` (or `estimator dashboard`, or `make run`).

Widgets in, library calls, charts out: no formula lives here. The current page and training scenario are
in the URL's query parameters, so a link reproduces what is on the screen.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore", message=".*torch.jit.*")

import page_hardware  # noqa: E402
import page_planner  # noqa: E402
import page_scenarios  # noqa: E402
import page_serving  # noqa: E402
import page_training  # noqa: E402
import page_validation  # noqa: E402
import state  # noqa: E402
import streamlit as st  # noqa: E402

DEFECT_MARK = "Something went wrong"
PAGES = {
    "Training": page_training,
    "Planner": page_planner,
    "Serving": page_serving,
    "Hardware": page_hardware,
    "Validation": page_validation,
    "Scenarios": page_scenarios,
}

st.set_page_config(page_title="Transformer training & serving cost estimator", layout="wide")
requested = st.query_params.get("page", "Training")
names = list(PAGES)
if "goto_page" in st.session_state:  # another page asked to open this one (before the radio exists)
    st.session_state["page_radio"] = st.session_state.pop("goto_page")
page = st.sidebar.radio(
    "Page", names, index=names.index(requested) if requested in names else 0, key="page_radio"
)
notices = state.parse_query(dict(st.query_params))[1]
if not notices and st.session_state.pop("carry_notices", False):  # the training page's second first run
    notices = st.session_state.get("url_notices", [])
st.session_state["url_notices"] = notices
for notice in notices:
    st.warning(notice)
st.query_params["page"] = page
st.sidebar.caption(
    "Every figure has its unit and the assumptions behind it; see the Validation page for how far "
    "the model can be trusted."
)
# Streamlit forgets a widget's state when a run does not draw it; keep every page's inputs (prefixes tr_,
# sv_, pl_) across page changes so a custom model or a serving setup survives a visit to another page. On a
# page change every kept value is written again, so the widgets drawn now are told their value (a value
# merely left in the session state would be shown as the widget's default by the browser).
kept: dict[str, object] = st.session_state.setdefault("_kept", {})
switched = st.session_state.get("_last_page") != page
st.session_state["_last_page"] = page
for k, v in kept.items():
    if switched or k not in st.session_state:
        st.session_state[k] = v
try:
    PAGES[page].render()
except Exception as exc:  # a defect, not an input error: say so without a traceback  # noqa: BLE001
    if os.environ.get("ESTIMATOR_DASHBOARD_STRICT") == "1":  # under test a defect must fail the test
        raise
    st.error(f"{DEFECT_MARK} on this page ({type(exc).__name__}: {exc}). Please report it.")
kept.update(
    {
        k: st.session_state[k]
        for k in list(st.session_state)
        if isinstance(k, str) and k.startswith(state.KEPT_PREFIXES) and k not in state.NOT_SETTABLE
    }
)
