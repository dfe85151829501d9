"""The report as a list of blocks (headings, paragraphs, tables, figures) that each format renders; the
content is written once, here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from estimator import figures
from estimator.report.content import Report, ServingSection, TrainingSection
from estimator.units import GiB, fmt_bytes, fmt_count, fmt_usd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]


@dataclass(frozen=True)
class Figure:
    name: str
    figure: Any  # plotly.graph_objects.Figure


@dataclass(frozen=True)
class PageBreak:
    """The executive summary stands alone on the first page of the PDF."""


Block = Heading | Paragraph | Table | Figure | PageBreak


def _usd(x: float | None) -> str:
    return "n/a (no price)" if x is None else fmt_usd(x)


def _kv(pairs: list[tuple[str, str]]) -> Table:
    return Table(["", "value"], [[k, v] for k, v in pairs])


def _frame(frame: pd.DataFrame, columns: dict[str, str], formats: dict[str, Any]) -> Table:
    rows = []
    for _, r in frame.iterrows():
        rows.append([formats.get(c, str)(r[c]) if c in r and pd.notna(r[c]) else "—" for c in columns])
    return Table(list(columns.values()), rows)


def _summary(s: TrainingSection) -> list[Block]:
    e = s.estimate
    days = e.train_time_s / 86400
    lo, hi = (x / 86400 for x in e.train_time_s_range)
    cost_rng = (
        ""
        if e.cost_usd_range is None
        else f" (range {_usd(e.cost_usd_range[0])} – {_usd(e.cost_usd_range[1])})"
    )
    out: list[Block] = [
        Heading(f"Scenario: {e.scenario}", 2),
        Paragraph(
            f"Training {e.model} on {e.gpus} × {e.hardware} costs {_usd(e.cost_usd)}{cost_rng} and takes "
            f"{days:,.1f} days "
            f"(range {lo:,.1f} – {hi:,.1f}), {e.gpu_hours:,.0f} GPU-hours, at {e.mfu:.1%} MFU; "
            f"memory per GPU {fmt_bytes(e.memory_per_gpu_bytes['total'])} of "
            f"{fmt_bytes(e.memory_capacity_bytes)} "
            f"({'fits' if e.fits_in_memory else 'DOES NOT FIT'})."
        ),
    ]
    if s.recommended:
        r, re_ = s.recommended["scenario"], s.recommended["estimate"]
        p = r["parallelism"]
        out.append(
            Paragraph(
                f"Recommended plan: {r['gpus']} × {r['hardware']}, tp {p['tp']} · pp {p['pp']} · cp "
                f"{p['cp']}, micro-batch "
                f"{p['micro_batch']}, {p['virtual_stages']} virtual stages, ZeRO-{p['zero_stage']}, "
                f"{p['recompute']} recompute"
                f"{', sequence parallel' if p['sequence_parallel'] else ''}: {_usd(re_.cost_usd)} in "
                f"{re_.train_time_s / 86400:,.1f} "
                f"days (saves {_usd((e.cost_usd or 0) - (re_.cost_usd or 0))}, finishes no later)."
            )
        )
    else:
        out.append(
            Paragraph(
                "Recommended plan: the scenario as given (no cheaper plan found within ½× to 2× its GPUs, "
                "finishing no later, on the compared accelerators)."
            )
        )
    return out


def _configuration(s: TrainingSection) -> list[Block]:
    sc, e = s.scenario, s.estimate
    p = sc.parallelism
    price = e.assumptions["price"]
    return [
        Heading("Configuration", 3),
        _kv(
            [
                (
                    "model",
                    f"{sc.model.name} ({fmt_count(e.params_total)} parameters; "
                    f"{sc.model.source or 'custom'})",
                ),
                ("hardware", f"{sc.hardware.display_name} × {sc.gpus}"),
                (
                    "layout",
                    f"tp {p.tp}, pp {p.pp}, cp {p.cp}, ep {p.ep}, dp {sc.dp}, micro-batch {p.micro_batch}, "
                    f"{p.virtual_stages} virtual stages, ZeRO-{p.effective_zero_stage}, {p.recompute} "
                    "recompute, "
                    f"sequence parallel {'on' if p.sequence_parallel else 'off'}",
                ),
                ("precision", sc.precision),
                (
                    "workload",
                    f"{sc.tokens:.3e} tokens, global batch {sc.training.global_batch} × "
                    f"{sc.training.seq_len} tokens, "
                    f"{e.steps:,} steps",
                ),
                (
                    "price",
                    f"${price['usd_per_gpu_hour']}/GPU-hour ({price.get('provider', price['source'])}"
                    f"{', ' + str(price['date']) if price.get('date') else ''})"
                    if price["usd_per_gpu_hour"]
                    else price["source"],
                ),
            ]
        ),
    ]


def _breakdowns(s: TrainingSection) -> list[Block]:
    e = s.estimate
    params = [(k, f"{v:,.0f}") for k, v in e.params_breakdown.items() if v and k not in ("total", "active")]
    mem = [(k, f"{v / GiB:,.2f} GiB") for k, v in e.memory_per_gpu_bytes.items()]
    time_rows = [(k, f"{v:,.3f} s") for k, v in e.time_breakdown_s.items()]
    return [
        Heading("Parameters by component", 3),
        _kv(params + [("total", f"{e.params_total:,.0f}")]),
        Heading("FLOPs", 3),
        _kv(
            [
                ("model FLOPs per step", f"{e.flops_model_per_step:.4e}"),
                ("hardware FLOPs per step (with recomputation)", f"{e.flops_hardware_per_step:.4e}"),
                ("model FLOPs, whole run", f"{e.flops_model_total:.4e}"),
                ("6·N·D cross-check", f"{e.flops_6nd_total:.4e}"),
            ]
        ),
        Heading("Memory per GPU", 3),
        _kv(
            mem
            + [("capacity", f"{e.memory_capacity_bytes / GiB:,.2f} GiB"), ("stage reported", e.memory_stage)]
        ),
        Heading("Step time", 3),
        _kv(
            time_rows
            + [
                (
                    "step",
                    f"{e.step_time_s:,.3f} s (range {e.step_time_s_range[0]:,.3f} – "
                    f"{e.step_time_s_range[1]:,.3f} s)",
                ),
                ("model TFLOP/s per GPU", f"{e.tflops_per_gpu:,.1f}"),
                ("MFU / HFU", f"{e.mfu:.1%} / {e.hfu:.1%}"),
            ]
        ),
        Heading("Cost, energy, carbon", 3),
        _kv(
            [
                ("GPU-hours", f"{e.gpu_hours:,.0f}"),
                ("cost", _usd(e.cost_usd)),
                ("energy", f"{e.energy_kwh / 1000:,.1f} MWh"),
                ("CO2e", f"{e.co2_kg / 1000:,.1f} t"),
            ]
        ),
    ]


def _charts(s: TrainingSection, index: int) -> list[Block]:
    e = s.estimate
    out: list[Block] = [
        Heading("Charts", 3),
        Figure(f"s{index}-time", figures.step_breakdown(e.time_breakdown_s)),
        Figure(f"s{index}-memory", figures.memory_stack(e.memory_per_gpu_bytes, e.memory_capacity_bytes)),
    ]
    if not s.gpu_sweep.empty:
        out.append(Figure(f"s{index}-gpus", figures.cost_vs_gpus(s.gpu_sweep)))
    out.append(Figure(f"s{index}-sensitivity", figures.sensitivity(s.sensitivity)))
    return out


def _alternatives(s: TrainingSection) -> list[Block]:
    out: list[Block] = [Heading("Alternatives", 3)]
    if not s.alternatives.empty:
        out += [
            Paragraph("The planner's cheapest plans finishing no later than this scenario:"),
            _frame(
                s.alternatives,
                {
                    "hardware": "hardware",
                    "gpus": "GPUs",
                    "tp": "tp",
                    "pp": "pp",
                    "cp": "cp",
                    "micro_batch": "mb",
                    "virtual_stages": "v",
                    "zero": "ZeRO",
                    "recompute": "recompute",
                    "train_days": "days",
                    "cost_usd": "cost",
                    "mfu": "MFU",
                },
                {
                    "gpus": lambda v: f"{int(v)}",
                    "tp": lambda v: f"{int(v)}",
                    "pp": lambda v: f"{int(v)}",
                    "cp": lambda v: f"{int(v)}",
                    "micro_batch": lambda v: f"{int(v)}",
                    "virtual_stages": lambda v: f"{int(v)}",
                    "zero": lambda v: f"{int(v)}",
                    "train_days": lambda v: f"{v:,.1f}",
                    "cost_usd": _usd,
                    "mfu": lambda v: f"{v:.1%}",
                },
            ),
        ]
    out += [
        Paragraph("The same job on other accelerators (same layout, each profile's dated price):"),
        _frame(
            s.hardware,
            {
                "hardware": "hardware",
                "days": "days",
                "cost_usd": "cost",
                "energy_kwh": "energy",
                "mfu": "MFU",
                "fits_in_memory": "fits",
                "error": "note",
            },
            {
                "days": lambda v: f"{v:,.1f}",
                "cost_usd": _usd,
                "energy_kwh": lambda v: f"{v / 1000:,.1f} MWh",
                "mfu": lambda v: f"{v:.1%}",
                "fits_in_memory": lambda v: "yes" if v else "no",
            },
        ),
    ]
    return out


def _assumptions(s: TrainingSection) -> list[Block]:
    rows = []
    for key, value in s.estimate.assumptions.items():
        rows.append([key, json.dumps(value, default=str) if isinstance(value, dict | list) else str(value)])
    sources = [[f"profile: {k}", v] for k, v in s.scenario.hardware.sources.items()]
    return [Heading("Assumptions and sources", 3), Table(["assumption", "value and source"], rows + sources)]


def _serving(s: ServingSection) -> list[Block]:
    e = s.estimate
    return [
        Heading(f"Serving: {s.name}", 2),
        _kv(
            [
                ("model on hardware", f"{e.model} on {e.gpus_per_replica} × {e.hardware} per replica"),
                ("deployment", f"{e.replicas} replica(s), {e.gpus_needed} GPUs, {e.utilisation:.0%} busy"),
                ("time to first token", f"{e.ttft_s * 1e3:,.1f} ms"),
                ("time per output token", f"{e.tpot_s * 1e3:,.2f} ms"),
                ("throughput", f"{e.tokens_per_s_per_gpu:,.0f} output tokens/s per GPU at batch {e.batch}"),
                (
                    "USD per million tokens",
                    f"{_usd(e.usd_per_million_tokens)} (input {_usd(e.usd_per_million_input_tokens)}, "
                    f"output {_usd(e.usd_per_million_output_tokens)})",
                ),
                ("per month", _usd(e.monthly_cost_usd)),
                ("KV cache per GPU", fmt_bytes(e.kv_cache_bytes)),
                ("weights per GPU", fmt_bytes(e.weights_bytes)),
            ]
        ),
        Table(
            ["assumption", "value"],
            [
                [k, json.dumps(v, default=str) if isinstance(v, dict) else str(v)]
                for k, v in e.assumptions.items()
            ],
        ),
    ]


def drivers(sensitivity: pd.DataFrame, top: int = 3) -> list[str]:
    """The assumptions that move the cost most, from the sensitivity sweep: 'kernel efficiency ×0.8 / ×1.2:
    cost +20.6 % / −13.5 %', largest swing first."""
    if sensitivity.empty or "baseline" not in set(sensitivity["parameter"]):
        return []
    base = sensitivity.loc[sensitivity["parameter"] == "baseline", "cost_usd"].iloc[0]
    if not base or pd.isna(base):
        return []
    rows = []
    for name, group in sensitivity[sensitivity["parameter"] != "baseline"].groupby("parameter", sort=False):
        moves = [
            (str(r.setting), (r.cost_usd - base) / base) for r in group.itertuples() if pd.notna(r.cost_usd)
        ]
        if moves:
            swing = max(abs(m) for _, m in moves)
            text = " / ".join(f"{st} {m:+.1%}" for st, m in moves)
            rows.append((swing, f"{name}: cost {text}"))
    return [t for _, t in sorted(rows, key=lambda r: -r[0])[:top]]


def _executive(report: Report) -> list[Block]:
    """The first page: headline cost with its range, days, hardware, price and its source, whether it fits,
    the recommended plan and its saving, and the assumptions that move the answer most."""
    out: list[Block] = [Heading("Executive summary", 2)]
    for s in report.training:
        e = s.estimate
        price = e.assumptions.get("price", {})
        rng = (
            ""
            if e.cost_usd_range is None
            else f" (range {_usd(e.cost_usd_range[0])} – {_usd(e.cost_usd_range[1])})"
        )
        lo, hi = (x / 86400 for x in e.train_time_s_range)
        headroom = (e.memory_capacity_bytes - e.memory_per_gpu_bytes["total"]) / GiB
        rows = [
            ("cost", f"{_usd(e.cost_usd)}{rng}"),
            ("time", f"{e.train_time_s / 86400:,.1f} days (range {lo:,.1f} – {hi:,.1f})"),
            ("hardware", f"{e.gpus:,} × {s.scenario.hardware.display_name}"),
            (
                "price",
                f"${price.get('usd_per_gpu_hour', 0):,.2f} per GPU-hour ({price.get('source', 'n/a')})"
                if price.get("usd_per_gpu_hour")
                else "none",
            ),
            (
                "fits in memory",
                f"yes, {headroom:,.1f} GiB headroom per GPU"
                if e.fits_in_memory
                else f"NO: {-headroom:,.1f} GiB short per GPU",
            ),
            ("energy", f"{e.energy_kwh / 1000:,.1f} MWh"),
        ]
        if s.recommended:
            r, re_ = s.recommended["scenario"], s.recommended["estimate"]
            saving = (e.cost_usd or 0) - (re_.cost_usd or 0)
            rows.append(
                (
                    "recommended plan",
                    f"{r['gpus']:,} × {r['hardware']} (tp {r['parallelism']['tp']} · pp "
                    f"{r['parallelism']['pp']}): {_usd(re_.cost_usd)} in "
                    f"{re_.train_time_s / 86400:,.1f} days, "
                    f"saves {_usd(saving)}",
                )
            )
        else:
            rows.append(("recommended plan", "as given (no cheaper plan that finishes no later was found)"))
        for i, text in enumerate(drivers(s.sensitivity)):
            rows.append(("moves the answer most" if i == 0 else "", text))
        out += [Paragraph(f"{e.scenario}: training {e.model}."), _kv(rows)]
    for sv in report.serving:
        se = sv.estimate
        out.append(
            Paragraph(
                f"Serving {sv.name}: {se.gpus_needed:,} × {se.hardware}, {_usd(se.usd_per_million_tokens)} "
                f"per million tokens, {_usd(se.monthly_cost_usd)} per month."
            )
        )
    out.append(PageBreak())
    return out


def document(report: Report) -> list[Block]:
    """Every block of the report, in reading order: a comparison when there are several scenarios, then
    each scenario's summary first."""
    v = report.validation
    blocks: list[Block] = [
        Heading(report.title, 1),
        Paragraph(
            f"Generated {report.generated} by the estimator. Validated accuracy: over "
            f"{int(v.get('runs', 0))} published, measured training runs (A100, H100, H200, B200, GB200, "
            "MI300X, MI325X: papers, MLPerf, torchtitan, Megatron-Core, NeMo), each family of runs predicted "
            "by the calibration fitted without it, the step time is within "
            f"{v.get('median_abs_error', 0):.1%} (median) and {v.get('max_abs_error', 0):.1%} (worst). "
            "Each estimate's range comes from its hardware generation's residuals and widens outside what "
            "the runs cover (it says why)."
        ),
    ]
    blocks += _executive(report)
    if len(report.training) > 1:
        blocks += [
            Heading("Comparison", 2),
            Table(
                ["scenario", "hardware × GPUs", "days", "cost", "MFU", "memory/GPU"],
                [
                    [
                        s.estimate.scenario,
                        f"{s.estimate.hardware} × {s.estimate.gpus}",
                        f"{s.estimate.train_time_s / 86400:,.1f}",
                        _usd(s.estimate.cost_usd),
                        f"{s.estimate.mfu:.1%}",
                        fmt_bytes(s.estimate.memory_per_gpu_bytes["total"]),
                    ]
                    for s in report.training
                ],
            ),
        ]
    for i, s in enumerate(report.training):
        blocks += (
            _summary(s)
            + _configuration(s)
            + _breakdowns(s)
            + _charts(s, i)
            + _alternatives(s)
            + _assumptions(s)
        )
    for serving in report.serving:
        blocks += _serving(serving)
    return blocks
