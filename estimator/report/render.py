"""Render the report's blocks: self-contained HTML (Plotly's JavaScript inlined, no network), Markdown with
PNG charts beside it, PDF printed by headless Chromium. Every user string is escaped."""

from __future__ import annotations

import base64
import html
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from estimator.errors import InputError
from estimator.report.document import Block, Figure, Heading, PageBreak, Paragraph, Table

CSS = (
    "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;"
    "padding:0 1em;color:#222}table{border-collapse:collapse;margin:0.5em 0 1.2em;font-size:0.9em}"
    "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "h1{border-bottom:2px solid #444}h2{margin-top:2em;border-bottom:1px solid #aaa}img{max-width:100%}"
    ".keep{break-inside:avoid;page-break-inside:avoid}.pagebreak{break-after:page;page-break-after:always}"
    "@media print{body{margin:0 auto}table,img,.js-plotly-plot{break-inside:avoid;page-break-inside:avoid}"
    "h1,h2,h3{break-after:avoid;page-break-after:avoid}}"
)


def chromium_path() -> str:
    """Debian's Chromium (or $BROWSER_PATH): kaleido's static images and the PDF need it."""
    for candidate in (
        os.environ.get("BROWSER_PATH"),
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    raise InputError("static charts and PDF need Chromium: install Debian's `chromium` or set BROWSER_PATH")


def figure_images(blocks: list[Block], width: int = 900, height: int = 420) -> dict[str, bytes]:
    """PNG bytes of every figure, rendered by kaleido in one Chromium session."""
    import plotly.io as pio

    os.environ.setdefault("BROWSER_PATH", chromium_path())
    figs = [b for b in blocks if isinstance(b, Figure)]
    with tempfile.TemporaryDirectory() as tmp:
        paths = [str(Path(tmp) / f"{f.name}.png") for f in figs]
        pio.write_images([f.figure for f in figs], paths, width=width, height=height)
        return {f.name: Path(p).read_bytes() for f, p in zip(figs, paths, strict=True)}


def to_html(blocks: list[Block], *, static_images: dict[str, bytes] | None = None) -> str:
    """One HTML file: interactive Plotly charts with the library inlined once, or PNG data URIs."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(_title(blocks))}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    first_figure = True
    keep_open = False  # a heading and the block after it share a page (no orphaned headings)
    for b in blocks:
        if isinstance(b, Heading):
            if not keep_open:
                parts.append("<div class='keep'>")
                keep_open = True
            parts.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
            continue
        if isinstance(b, PageBreak):
            if keep_open:
                parts.append("</div>")
                keep_open = False
            parts.append("<div class='pagebreak'></div>")
            continue
        if isinstance(b, Paragraph):
            parts.append(f"<p>{esc(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{esc(c)}</th>" for c in b.columns)
            body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif static_images is not None:
            data = base64.b64encode(static_images[b.name]).decode("ascii")
            parts.append(f"<p><img alt='{esc(b.name)}' src='data:image/png;base64,{data}'></p>")
        else:
            parts.append(
                b.figure.to_html(
                    full_html=False, include_plotlyjs=first_figure, config={"displaylogo": False}
                )
            )
            first_figure = False
        if keep_open:
            parts.append("</div>")
            keep_open = False
    if keep_open:
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _title(blocks: list[Block]) -> str:
    return next((b.text for b in blocks if isinstance(b, Heading)), "report")


def _md_escape(text: str) -> str:
    out = html.escape(text, quote=False)
    for ch in ("\\", "`", "*", "_", "[", "]", "|", "#"):
        out = out.replace(ch, "\\" + ch)
    return out


def to_markdown(blocks: list[Block], out: Path) -> str:
    """Markdown, its charts written as PNG files into `<name>_charts/` beside it."""
    images = figure_images(blocks)
    folder = out.with_name(out.stem + "_charts")
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + _md_escape(b.text), ""]
        elif isinstance(b, Paragraph):
            lines += [_md_escape(b.text), ""]
        elif isinstance(b, Table):
            lines.append("| " + " | ".join(_md_escape(c) or " " for c in b.columns) + " |")
            lines.append("|" + "---|" * len(b.columns))
            lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in b.rows]
            lines.append("")
        elif isinstance(b, PageBreak):
            lines += ["---", ""]
        else:
            (folder / f"{b.name}.png").write_bytes(images[b.name])
            lines += [f"![{b.name}]({folder.name}/{b.name}.png)", ""]
    return "\n".join(lines)


def write_pdf(blocks: list[Block], out: Path) -> None:
    """Print the static-image HTML to PDF with headless Chromium."""
    page = to_html(blocks, static_images=figure_images(blocks))
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "report.html"
        src.write_text(page, encoding="utf-8")
        cmd = [
            chromium_path(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile",
            f"--print-to-pdf={out.resolve()}",
            src.as_uri(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)
        if proc.returncode != 0 or not out.exists():
            raise InputError(
                f"Chromium could not print the PDF (exit {proc.returncode}): {proc.stderr[-500:]}"
            )


def write(blocks: list[Block], out: Path, tabular: dict[str, Any]) -> None:
    """Write the report in the format its extension names."""
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix in (".html", ".htm"):
        out.write_text(to_html(blocks), encoding="utf-8")
    elif suffix == ".md":
        out.write_text(to_markdown(blocks, out), encoding="utf-8")
    elif suffix == ".pdf":
        write_pdf(blocks, out)
    elif suffix in (".json", ".csv"):
        out.write_text(tabular[suffix], encoding="utf-8")
    else:
        raise InputError(f"-o: unknown report format {suffix!r}; use .html, .md, .pdf, .json or .csv")
