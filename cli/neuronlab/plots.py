"""Pictures of benchmark history (`--plot FILE.png|FILE.html`): a series' trend, a model across instance types,
and two runs' latency distributions.

matplotlib draws each; FILE.png is the picture, FILE.html the same picture (inline SVG) above a table of the
numbers it shows, one self-contained file to attach to a ticket. matplotlib loads on first use.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from statistics import median
from typing import Any

from neuronlab_core import fingerprint, latency

FORMATS = (".png", ".html")
SUSPECT_VERDICTS = ("suspect", "improvement")


def check_target(path: Path) -> None:
    """Refuse a file the plot cannot be written as, before anything is fetched."""
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"--plot {path}: a .png or .html file")
    if not path.parent.is_dir():
        raise ValueError(f"--plot {path}: folder {path.parent} does not exist")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path, title: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    plt = _pyplot()
    if path.suffix.lower() == ".png":
        figure.savefig(path, dpi=120, bbox_inches="tight")
    else:
        svg = io.StringIO()
        figure.savefig(svg, format="svg", bbox_inches="tight")
        cells = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
        path.write_text(
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{svg.getvalue()[svg.getvalue().index('<svg'):]}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table></body></html>",
            encoding="utf-8")
    plt.close(figure)
    return path


def _segments(runs: list[dict[str, Any]]) -> list[list[int]]:
    """Indexes of each segment: a confirmed change point starts a new one (incorrect runs belong to none)."""
    segments: list[list[int]] = [[]]
    for i, run in enumerate(runs):
        if run.get("changePoint") and segments[-1]:
            segments.append([])
        if run.get("verdict") != "incorrect":
            segments[-1].append(i)
    return [s for s in segments if s]


def trend(runs: list[dict[str, Any]], path: Path) -> Path:
    """A series over time, oldest first: throughput with each segment's median as a step; p50 with the p50-p99
    band; suspect runs, confirmed change points, incorrect runs, and the runs where the fingerprint changed."""
    plt = _pyplot()
    runs = sorted(runs, key=lambda r: r["runKey"])
    when = [datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")) for r in runs]
    throughput = [r["throughput"] for r in runs]
    p50 = [r["latency_ms"]["p50"] for r in runs]
    p99 = [r["latency_ms"]["p99"] for r in runs]
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(11, 7), height_ratios=(1, 1))
    top.plot(when, throughput, "o", color="tab:blue", markersize=4, label="throughput")
    bottom.fill_between(when, p50, p99, color="tab:blue", alpha=0.2, label="p50–p99")
    bottom.plot(when, p50, "-o", color="tab:blue", markersize=3, linewidth=1, label="p50")
    for number, segment in enumerate(_segments(runs)):
        span = [when[segment[0]], when[segment[-1]]]
        top.plot(span, [median(throughput[i] for i in segment)] * 2, color="tab:green", linewidth=2.5,
                 label="segment median" if number == 0 else None)
        bottom.plot(span, [median(p50[i] for i in segment)] * 2, color="tab:green", linewidth=2.5)
    marks = [("suspect", lambda r: r.get("verdict") in SUSPECT_VERDICTS, "^", "tab:orange"),
             ("confirmed change", lambda r: bool(r.get("changePoint")), "D", "tab:red"),
             ("incorrect outputs", lambda r: r.get("verdict") == "incorrect", "X", "black")]
    for label, chosen, marker, color in marks:
        picked = [i for i, r in enumerate(runs) if chosen(r)]
        if picked:
            top.plot([when[i] for i in picked], [throughput[i] for i in picked], marker, color=color, markersize=9,
                     linestyle="none", label=label)
            bottom.plot([when[i] for i in picked], [p50[i] for i in picked], marker, color=color, markersize=8,
                        linestyle="none")
    for i in range(1, len(runs)):
        changed = fingerprint.changes(fingerprint.of(runs[i - 1]), fingerprint.of(runs[i]))
        if changed:
            for axis in (top, bottom):
                axis.axvline(when[i], color="grey", linestyle="--", linewidth=1)
            text = ", ".join(f"{k} {b}" for k, (_, b) in changed.items() if k != "image")[:40] or "new image"
            top.annotate(text, (when[i], 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                         va="top", ha="right", color="dimgrey")
    first = runs[0]
    top.set_title(f"{first['model']} on {first['instance_type']} ({first['backend']}), "
                  f"batch {first['batch_size']}, sequence {first['sequence_length']}: {len(runs)} runs")
    top.set_ylabel("inferences / s")
    bottom.set_ylabel("latency, ms")
    top.legend(loc="lower left", fontsize=8)
    bottom.legend(loc="upper left", fontsize=8)
    figure.autofmt_xdate()
    rows = [(w.strftime("%Y-%m-%d %H:%M"), r["run_id"], f"{t:.1f}", f"{a:.3f}", f"{b:.3f}", r.get("verdict", ""),
             "change point" if r.get("changePoint") else "") for w, r, t, a, b in zip(when, runs, throughput, p50, p99,
                                                                                     strict=True)]
    return _save(figure, path, top.get_title(), ("started", "run", "/s", "p50 ms", "p99 ms", "verdict", ""), rows)


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indexes of the points no other beats on both cost and p99 (lower is better on each), cheapest first."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    front, best = [], float("inf")
    for i in order:
        if points[i][1] < best:
            front.append(i)
            best = points[i][1]
    return front


def instance_types(compared: dict[str, Any], path: Path) -> Path:
    """A model across instance types: p99 latency against cost per million inferences, with the Pareto front
    (nothing else is both cheaper and faster). Unpriced configurations (CPU) are listed, not placed."""
    plt = _pyplot()
    priced = [c for c in compared["configurations"] if c.get("cost_per_million_usd") is not None]
    figure, axis = plt.subplots(figsize=(9, 6))
    points = [(c["cost_per_million_usd"], c["p99_ms"]) for c in priced]
    axis.scatter([p[0] for p in points], [p[1] for p in points], color="tab:blue", zorder=3)
    for (cost, p99), c in zip(points, priced, strict=True):
        axis.annotate(f"{c['instance_type']} ({c['runs']} runs)", (cost, p99), textcoords="offset points",
                      xytext=(6, 4), fontsize=8)
    front = pareto_front(points)
    if front:
        axis.step([points[i][0] for i in front], [points[i][1] for i in front], where="post", color="tab:red",
                  label="Pareto front: nothing both cheaper and faster")
        axis.legend(fontsize=8)
    workload = compared.get("workload") or {}
    title = (f"{compared['model']}: p99 against cost, batch {workload.get('batch_size', 1)}, "
             f"sequence {workload.get('sequence_length', 128)}, {workload.get('scenario', 'latency')}")
    axis.set_title(title)
    axis.set_xlabel("USD per million inferences")
    axis.set_ylabel("p99 latency, ms (current segment median)")
    axis.grid(alpha=0.3)
    unpriced = [c for c in compared["configurations"] if c.get("cost_per_million_usd") is None]
    if unpriced:
        axis.text(0.99, 0.01, "not priced: " + ", ".join(f"{c['instance_type']} {c['backend']}" for c in unpriced),
                  transform=axis.transAxes, ha="right", va="bottom", fontsize=7, color="dimgrey")
    on_front = {id(priced[i]) for i in front}
    rows = [(c["instance_type"], c["backend"], c["runs"], f"{c['throughput']:.1f}", f"{c['p99_ms']:.3f}",
             "-" if c.get("cost_per_million_usd") is None else f"{c['cost_per_million_usd']:.4f}",
             "yes" if id(c) in on_front else "") for c in compared["configurations"]]
    return _save(figure, path, title, ("instance type", "backend", "runs", "/s", "p99 ms", "$/1M", "on the front"),
                 rows)


def _distribution(histogram: str) -> tuple[list[float], list[float]]:
    """(latency ms, fraction of requests at or below it) for every value the histogram holds."""
    recorded = latency.recorded(histogram)
    total = sum(count for _, count in recorded)
    values, fractions, seen = [], [], 0
    for value, count in recorded:
        seen += count
        values.append(value / 1000)
        fractions.append(seen / total)
    return values, fractions


def _configurations(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's configurations by the names `compare` gives them: "headline", "MxT" per sweep point."""
    return {"headline": run, **{f"{p['models']}x{p['threads']}": p for p in run.get("sweep") or []}}


def two_runs(base: dict[str, Any], other: dict[str, Any], compared: dict[str, Any], path: Path) -> Path:
    """Two runs' latency distributions per configuration both measured (from their histograms), with the verdict
    of the Mann-Whitney test in each panel's title."""
    plt = _pyplot()
    names = [row["configuration"] for row in compared["configurations"]]
    by_name = {"headline": (base, other), **{f"{p['models']}x{p['threads']}": (p, q)
                                             for p in base.get("sweep") or [] for q in other.get("sweep") or []
                                             if (p["models"], p["threads"]) == (q["models"], q["threads"])}}
    from matplotlib.ticker import ScalarFormatter

    figure, axes = plt.subplots(len(names), 1, figsize=(9, 1 + 3.2 * len(names)), squeeze=False, layout="constrained")
    for axis, row in zip(axes[:, 0], compared["configurations"], strict=True):
        for run, label, color in ((by_name[row["configuration"]][0], base["run_id"], "tab:blue"),
                                  (by_name[row["configuration"]][1], other["run_id"], "tab:red")):
            if run.get("histogram"):
                values, fractions = _distribution(run["histogram"])
                axis.step(values, fractions, where="post", color=color, label=label)
            else:
                axis.axvline(run["latency_ms"]["p50"], color=color, linestyle=":", label=f"{label} p50 (no histogram)")
        test = row["latency"]
        verdict = (f"{test['verdict']}: median {test['p50Change']:+.1%}, p = {test['pValue']:.2g}"
                   if "pValue" in test else test["verdict"])
        axis.set_title(f"{row['configuration']}: {verdict}", fontsize=10)
        axis.set_xscale("log")
        for ticks in (axis.xaxis.set_major_formatter, axis.xaxis.set_minor_formatter):
            ticks(ScalarFormatter())
        axis.set_xlabel("latency, ms")
        axis.set_ylabel("share of requests")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="lower right")
    title = f"{other['run_id']} against {base['run_id']}"
    figure.suptitle(title)
    rows = [(r["configuration"], *(f"{v:.3f}" if v is not None else "-" for v in r["throughput"]),
             *(f"{v:.3f}" if v is not None else "-" for v in r["p99"]), r["latency"]["verdict"])
            for r in compared["configurations"]]
    return _save(figure, path, title, ("configuration", "/s base", "/s other", "ratio", "p99 base", "p99 other",
                                       "ratio", "latency"), rows)
