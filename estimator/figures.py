"""Plotly figures of estimator results, shared by the dashboard and the reports. Figures only: every number
is computed by the library."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

GIB = 2.0**30
TEMPLATE = (
    "plotly_white"  # explicit: Streamlit replaces Plotly's default template, which a report must not get
)
LEGEND = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0.0)  # below the plot, off the ticks
NOT_FIT = "#d62728"


def _layout(fig: go.Figure, **kw: Any) -> go.Figure:
    """Every figure's common layout: the fixed template, the legend under the plot, room for labels."""
    fig.update_layout(
        template=TEMPLATE,
        legend=LEGEND,
        margin=dict(l=10, r=10, t=48, b=10),
        separators=".,",
        **kw,
    )
    return fig


def _log_axis() -> dict[str, Any]:
    """A log axis labelled at 1-2-5 steps with thousands separators (no '2 3 4 … 1000 2')."""
    ticks = [m * 10**e for e in range(0, 8) for m in (1, 2, 5)]
    return dict(type="log", tickvals=ticks, ticktext=[f"{t:,}" for t in ticks])


def step_breakdown(breakdown_s: dict[str, float]) -> go.Figure:
    parts = {k: v for k, v in breakdown_s.items() if v > 0}
    fig = go.Figure(
        go.Bar(
            x=list(parts.values()),
            y=list(parts.keys()),
            orientation="h",
            text=[f"{v:.2f} s" for v in parts.values()],
            textposition="auto",
        )
    )
    return _layout(
        fig, title="Step time by cause (seconds per optimizer step)", xaxis_title="seconds", height=320
    )


def memory_stack(memory: dict[str, float], capacity: float) -> go.Figure:
    fig = go.Figure()
    for part in ("weights", "gradients", "optimizer", "activations", "other", "kv_cache"):
        if part in memory:
            fig.add_trace(go.Bar(name=part, x=["per GPU"], y=[memory[part] / GIB]))
    fig.add_hline(y=capacity / GIB, line_dash="dash", annotation_text=f"capacity {capacity / GIB:.0f} GiB")
    return _layout(
        fig, barmode="stack", title="Memory per GPU against capacity (GiB)", yaxis_title="GiB", height=360
    )


def cost_vs_gpus(table: pd.DataFrame, current: int | None = None) -> go.Figure:
    """Days and dollars at other GPU counts; counts that do not fit are marked (and have no cost); the
    current count is marked."""
    fig = go.Figure()
    if table.empty:
        return _layout(fig, title="Days and dollars vs GPU count (no other count is possible)", height=360)
    fits = table["fits_in_memory"].astype(bool) if "fits_in_memory" in table else pd.Series(True, table.index)
    fig.add_trace(go.Scatter(x=table["gpus"], y=table["days"], name="days", mode="lines+markers"))
    priced = table[fits & table["cost_usd"].notna()]
    fig.add_trace(
        go.Scatter(
            x=priced["gpus"], y=priced["cost_usd"], name="cost (USD)", mode="lines+markers", yaxis="y2"
        )
    )
    bad = table[~fits]
    if not bad.empty:
        fig.add_trace(
            go.Scatter(
                x=bad["gpus"],
                y=bad["days"],
                name="does not fit (no cost)",
                mode="markers",
                marker=dict(symbol="x", size=12, color=NOT_FIT),
            )
        )
    if current is not None:
        fig.add_vline(x=current, line_dash="dot", annotation_text="this setup", annotation_position="top")
    return _layout(
        fig,
        title="Days and dollars vs GPU count",
        xaxis=dict(title="GPUs", **_log_axis()),
        yaxis=dict(title="days", rangemode="tozero"),
        yaxis2=dict(title="USD", overlaying="y", side="right", rangemode="tozero", tickformat="$~s"),
        height=380,
    )


def sensitivity(table: pd.DataFrame) -> go.Figure:
    """% change of the cost when one input moves; a change that leaves the setup unpriced (it no longer
    fits) is shown as such, not dropped."""
    base = float(table.iloc[0]["cost_usd"] or 0.0)
    rows = table.iloc[1:]
    labels = [f"{p} {s}" for p, s in zip(rows["parameter"], rows["setting"], strict=True)]
    change, text, colors = [], [], []
    for c in rows["cost_usd"]:
        if c is None or c != c or not base:
            change.append(0.0)
            text.append("no cost (does not fit)")
            colors.append(NOT_FIT)
        else:
            change.append((float(c) - base) / base * 100)
            text.append(f"{change[-1]:+.0f} %")
            colors.append("#1f77b4")
    fig = go.Figure(
        go.Bar(x=change, y=labels, orientation="h", text=text, textposition="auto", marker_color=colors)
    )
    return _layout(
        fig,
        title="Sensitivity of the cost (% change from the baseline)",
        xaxis_title="% change in USD",
        height=380,
    )


def pareto(table: pd.DataFrame, front: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=table["train_days"],
            y=table["cost_usd"],
            mode="markers",
            name="plans",
            marker=dict(size=4, opacity=0.3),
            text=table["hardware"],
        )
    )
    fig.add_trace(
        go.Scatter(
            x=front["train_days"],
            y=front["cost_usd"],
            mode="lines+markers",
            name="Pareto front",
            text=front["hardware"],
        )
    )
    return _layout(
        fig, title="Cost vs days of the plans that fit", xaxis_title="days", yaxis_title="USD", height=420
    )


def latency_vs_batch(rows: list[dict[str, Any]], chosen: int | None = None) -> go.Figure:
    """Time per output token and throughput per GPU against the batch; the chosen batch is marked."""
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=frame["batch"], y=frame["tpot_s"] * 1e3, name="ms per token", mode="lines+markers")
    )
    fig.add_trace(
        go.Scatter(
            x=frame["batch"],
            y=frame["tokens_per_s_per_gpu"],
            name="tokens/s per GPU",
            mode="lines+markers",
            yaxis="y2",
        )
    )
    if chosen is not None:
        fig.add_vline(x=chosen, line_dash="dot", annotation_text=f"batch {chosen}", annotation_position="top")
    return _layout(
        fig,
        title="Latency and throughput vs batch",
        xaxis=dict(title="batch (requests)", **_log_axis()),
        yaxis=dict(title="ms per output token", rangemode="tozero"),
        yaxis2=dict(title="tokens/s per GPU", overlaying="y", side="right", rangemode="tozero"),
        height=380,
    )


def latency_vs_rate(rows: list[dict[str, Any]], ttft_target_s: float, tpot_target_s: float) -> go.Figure:
    """p50 and p99 time to first token and per output token of one replica against the request rate."""
    frame = pd.DataFrame(rows)
    fig = go.Figure()
    for q, dash in (("p50", "solid"), ("p99", "dash")):
        fig.add_trace(
            go.Scatter(
                x=frame["rate_per_s"],
                y=frame[f"ttft_{q}_s"] * 1e3,
                name=f"TTFT {q} (ms)",
                mode="lines+markers",
                line=dict(dash=dash),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=frame["rate_per_s"],
                y=frame[f"tpot_{q}_s"] * 1e3,
                name=f"per token {q} (ms)",
                mode="lines+markers",
                line=dict(dash=dash),
                yaxis="y2",
            )
        )
    fig.add_hline(y=ttft_target_s * 1e3, line_dash="dot", annotation_text="TTFT target")
    return _layout(
        fig,
        title="Latency percentiles vs request rate (one replica, simulated)",
        xaxis=dict(title="requests per second", rangemode="tozero"),
        yaxis=dict(title="time to first token (ms)", type="log"),
        yaxis2=dict(title="ms per output token", overlaying="y", side="right", rangemode="tozero"),
        height=420,
    )


def hardware_bars(table: pd.DataFrame, column: str, title: str) -> go.Figure:
    """One bar per accelerator; setups that do not fit are red and labelled, and (with no cost) drawn at
    zero rather than dropped."""
    fits = (
        table["fits_in_memory"].fillna(False).astype(bool)
        if "fits_in_memory" in table
        else pd.Series(True, table.index)
    )
    runs = table["error"].fillna("").astype(str).eq("") if "error" in table else pd.Series(True, table.index)
    shown = table[runs & (table[column].notna() | ~fits)]  # rows whose layout cannot run say why in the table
    fits = fits[shown.index]
    fig = go.Figure(
        go.Bar(
            x=shown["hardware"],
            y=shown[column].fillna(0.0),
            marker_color=[("#1f77b4" if f else NOT_FIT) for f in fits],
            text=[("" if f else "does not fit") for f in fits],
            textposition="outside",
        )
    )
    return _layout(fig, title=title + " (red: does not fit)", height=340, yaxis=dict(rangemode="tozero"))


def validation_scatter(rows: pd.DataFrame) -> go.Figure:
    top = float(max(rows["measured_s"].max(), rows["predicted_s"].max())) * 1.1
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(x=[0.5, top], y=[0.5, top], mode="lines", name="identity", line=dict(dash="dash"))
    )
    for source, group in rows.groupby("family" if "family" in rows else "source"):
        fig.add_trace(
            go.Scatter(
                x=group["measured_s"],
                y=group["predicted_s"],
                mode="markers",
                name=str(source),
                text=group["run"],
            )
        )
    return _layout(
        fig,
        title="Predicted vs measured seconds per step (log-log), by source family",
        xaxis=dict(title="measured s", type="log"),
        yaxis=dict(title="predicted s", type="log"),
        height=520,
    )


BOUND_COLOURS = {"compute": "#1f77b4", "memory": "#ff7f0e", "communication": "#2ca02c"}


def op_roofline(rows: list[dict[str, Any]], top: int = 20) -> go.Figure:
    """Seconds per step of the slowest stage's ops, coloured by what bounds each (compute, memory,
    communication), largest first."""
    frame = pd.DataFrame(rows).head(top).iloc[::-1]
    fig = go.Figure()
    for bound, colour in BOUND_COLOURS.items():
        part = frame[frame["bound_by"] == bound]
        if part.empty:
            continue
        fig.add_trace(
            go.Bar(
                x=part["seconds_per_step"],
                y=part["op"] + " (" + part["where"] + ")",
                orientation="h",
                name=f"{bound}-bound",
                marker_color=colour,
                text=[f"{s:.0%}" for s in part["share"]],
                textposition="auto",
            )
        )
    return _layout(
        fig,
        title="What bounds each op (slowest stage, seconds per step, share of its op time)",
        xaxis_title="seconds per step (forward + backward, every layer and micro-batch)",
        height=max(320, 26 * len(frame) + 140),
        barmode="overlay",
        yaxis=dict(categoryorder="array", categoryarray=list(frame["op"] + " (" + frame["where"] + ")")),
    )


def compare_scenarios(frame: pd.DataFrame) -> go.Figure:
    """Saved scenarios side by side: cost (bars, non-fitting ones red and unpriced) and days (markers)."""
    colours = ["#1f77b4" if f else NOT_FIT for f in frame["fits"]]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=frame["scenario"],
            y=frame["cost_usd"].fillna(0.0),
            name="cost (USD)",
            marker_color=colours,
            text=[
                "does not fit" if not f else f"${c / 1e6:,.2f} M" if c >= 1e6 else f"${c / 1e3:,.1f} k"
                for c, f in zip(frame["cost_usd"].fillna(0.0), frame["fits"], strict=True)
            ],
            textposition="auto",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=frame["scenario"], y=frame["days"], name="days", mode="markers", yaxis="y2", marker_size=12
        )
    )
    return _layout(
        fig,
        title="Saved scenarios: cost and training time",
        yaxis=dict(title="USD", tickformat="$,.3s"),
        yaxis2=dict(title="days", overlaying="y", side="right", rangemode="tozero"),
        height=380,
    )
