"""Plotly figures of estimator results, shared by the dashboard and the reports. Figures only: every number
is computed by the library."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

GIB = 2.0**30


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
    fig.update_layout(
        title="Step time by cause (seconds per optimizer step)",
        xaxis_title="seconds",
        height=320,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def memory_stack(memory: dict[str, float], capacity: float) -> go.Figure:
    fig = go.Figure()
    for part in ("weights", "gradients", "optimizer", "activations", "other", "kv_cache"):
        if part in memory:
            fig.add_trace(go.Bar(name=part, x=["per GPU"], y=[memory[part] / GIB]))
    fig.add_hline(y=capacity / GIB, line_dash="dash", annotation_text=f"capacity {capacity / GIB:.0f} GiB")
    fig.update_layout(
        barmode="stack",
        title="Memory per GPU against capacity (GiB)",
        yaxis_title="GiB",
        height=360,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def cost_vs_gpus(table: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=table["gpus"], y=table["days"], name="days", mode="lines+markers"))
    fig.add_trace(
        go.Scatter(x=table["gpus"], y=table["cost_usd"], name="cost (USD)", mode="lines+markers", yaxis="y2")
    )
    fig.update_layout(
        title="Days and dollars vs GPU count",
        xaxis_title="GPUs",
        xaxis_type="log",
        yaxis_title="days",
        yaxis2=dict(title="USD", overlaying="y", side="right"),
        height=360,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def sensitivity(table: pd.DataFrame) -> go.Figure:
    base = float(table.iloc[0]["cost_usd"] or 0.0)
    rows = table.iloc[1:]
    labels = [f"{p} {s}" for p, s in zip(rows["parameter"], rows["setting"], strict=True)]
    change = [(float(c or 0.0) - base) / base * 100 if base else 0.0 for c in rows["cost_usd"]]
    fig = go.Figure(go.Bar(x=change, y=labels, orientation="h", text=[f"{c:+.0f}%" for c in change]))
    fig.update_layout(
        title="Sensitivity of the cost (% change from the baseline)",
        xaxis_title="% change in USD",
        height=360,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


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
    fig.update_layout(
        title="Cost vs days of the plans that fit",
        xaxis_title="days",
        yaxis_title="USD",
        height=420,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def latency_vs_batch(rows: list[dict[str, Any]]) -> go.Figure:
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
    fig.update_layout(
        title="Latency and throughput vs batch",
        xaxis_title="batch (requests)",
        xaxis_type="log",
        yaxis_title="ms per output token",
        yaxis2=dict(title="tokens/s per GPU", overlaying="y", side="right"),
        height=380,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


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
    fig.update_layout(
        title="Latency percentiles vs request rate (one replica, simulated)",
        xaxis_title="requests per second",
        yaxis_title="time to first token (ms)",
        yaxis_type="log",
        yaxis2=dict(title="ms per output token", overlaying="y", side="right"),
        height=400,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig


def hardware_bars(table: pd.DataFrame, column: str, title: str) -> go.Figure:
    ok = table.dropna(subset=[column])
    fig = go.Figure(go.Bar(x=ok["hardware"], y=ok[column]))
    fig.update_layout(title=title, height=320, margin=dict(l=10, r=10, t=40, b=10))
    return fig


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
    fig.update_layout(
        title="Predicted vs measured seconds per step (log-log), by source family",
        xaxis_title="measured s",
        yaxis_title="predicted s",
        xaxis_type="log",
        yaxis_type="log",
        height=460,
        margin=dict(l=10, r=10, t=40, b=10),
    )
    return fig
