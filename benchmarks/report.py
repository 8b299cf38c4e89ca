"""Figures, ratios and their tables: pure functions over the measured numbers (no I/O but the
files ``write`` and ``draw_curve`` produce)."""

from __future__ import annotations

import json
import math
from pathlib import Path

SYSTEMS = ("floor", "jointdesk", "embedded")
LABELS = {
    "floor": "floor",
    "jointdesk": "JointDesk (PostgreSQL + Redis)",
    "embedded": "embedded (SQLite + filesystem broker)",
}
SHORT = {"floor": "floor", "jointdesk": "JointDesk", "embedded": "embedded"}
HEADLINE_RATE = 20.0

# key, words, kind, goal (throughput: ratio at least; latency: ratio at most; None: informative)
FIGURES = (
    ("intake", "intake, 8 clients back to back, 4-service application", "throughput", 0.5),
    ("view", "case view, 16 connections", "throughput", 0.5),
    ("lookup", "public look-up by reference + code, 16 connections", "throughput", 0.5),
    (
        "hello",
        "HTTP floor: `/hello`; JointDesk: an API call without a token (401), 16 connections",
        "throughput",
        None,
    ),
    (
        "fanout_p99",
        "fan-out at {rate}/s, client polling the case every 20 ms: p99 from the POST's "
        "answer to the last ticket queued",
        "latency",
        2.0,
    ),
    ("fanout_p50", "the same, p50", "latency", None),
    (
        "fanout_server_p99",
        "the same, p99 by the server's clocks (case created → last ticket queued)",
        "latency",
        None,
    ),
    ("intake_p99", "intake p99 at {rate}/s (POST round trip)", "latency", None),
)


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile: the smallest value with at least p % of them at or below."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(values: list[float]) -> dict:
    """Count, p50, p99 and max, rounded to 0.1 (milliseconds, in practice)."""

    def r(x):
        return None if x is None else round(x, 1)

    return {
        "n": len(values),
        "p50": r(percentile(values, 50)),
        "p99": r(percentile(values, 99)),
        "max": r(max(values) if values else None),
    }


def headline_point(fanout: list[dict], rate: float = HEADLINE_RATE) -> dict | None:
    """The fan-out run at ``rate``, or at the rate nearest to it."""
    if not fanout:
        return None
    return min(fanout, key=lambda point: (abs(point["rate"] - rate), point["rate"]))


def figure_value(system: dict | None, key: str) -> tuple[float | None, bool]:
    """One figure of one system's results, and whether it was measured saturated."""
    if not system:
        return None, False
    if key in ("intake", "view", "lookup", "hello"):
        load = system.get("throughput", {}).get(key)
        return (load["throughput"], bool(load["errors"])) if load else (None, False)
    point = headline_point(system.get("fanout", []))
    if point is None:
        return None, False
    series, stat = {
        "fanout_p99": ("fanout_client_ms", "p99"),
        "fanout_p50": ("fanout_client_ms", "p50"),
        "fanout_server_p99": ("fanout_server_ms", "p99"),
        "intake_p99": ("intake_ms", "p99"),
    }[key]
    return point[series][stat], point["saturated"]


def ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or not floor:
        return None
    return value / floor


def meets(kind: str, goal: float | None, r: float | None) -> bool | None:
    if goal is None or r is None:
        return None
    return r >= goal if kind == "throughput" else r <= goal


def build_table(systems: dict) -> list[dict]:
    """One row per figure: each system's value, its ratio to the floor and the goal."""
    point = headline_point((systems.get("floor") or {}).get("fanout", [])) or headline_point(
        (systems.get("jointdesk") or {}).get("fanout", [])
    )
    rate = point["rate"] if point else HEADLINE_RATE
    rows = []
    for key, words, kind, goal in FIGURES:
        floor, _ = figure_value(systems.get("floor"), key)
        row = {"figure": key, "words": words.format(rate=f"{rate:g}"), "kind": kind}
        row["goal"] = goal
        for name in SYSTEMS:
            value, saturated = figure_value(systems.get(name), key)
            r = ratio(value, floor) if name != "floor" else None
            row[name] = {
                "value": value,
                "saturated": saturated,
                "ratio": None if r is None else round(r, 3),
                "meets_goal": meets(kind, goal, r) if name != "floor" else None,
            }
        rows.append(row)
    return rows


def fmt_value(kind: str, value: float | None, saturated: bool = False) -> str:
    if value is None:
        return "—"
    digits = 1 if value < 10 else 0
    text = f"{value:,.{digits}f} {'/s' if kind == 'throughput' else 'ms'}"
    return text + (" (overloaded)" if saturated else "")


def fmt_ratio(kind: str, r: float | None, ok: bool | None) -> str:
    if r is None:
        return "—"
    text = f"{r:.2f}" if kind == "throughput" else f"{r:.1f}×"
    return text + {True: " ✓", False: " ✗", None: ""}[ok]


def fmt_goal(kind: str, goal: float | None) -> str:
    if goal is None:
        return "—"
    return f"≥ {goal:g}" if kind == "throughput" else f"≤ {goal:g}×"


def _rounds(settings: dict) -> str:
    rounds = settings.get("rounds", 1)
    if rounds == 1:
        return f"over {settings['duration']:g} s "
    return (
        f"the median of {rounds} rounds of {settings['duration']:g} s (the systems taking "
        "turns round by round) "
    )


def markdown_table(rows: list[dict], present: tuple[str, ...] = SYSTEMS) -> str:
    """The ratio table: figure | floor | JointDesk | ratio | goal | embedded | ratio."""
    head = ["figure", "floor"]
    if "jointdesk" in present:
        head += [LABELS["jointdesk"], "ratio", "goal"]
    if "embedded" in present:
        head += [LABELS["embedded"], "ratio"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        kind = row["kind"]
        cells = [row["words"], fmt_value(kind, row["floor"]["value"], row["floor"]["saturated"])]
        for name in ("jointdesk", "embedded"):
            if name not in present:
                continue
            cell = row[name]
            cells += [
                fmt_value(kind, cell["value"], cell["saturated"]),
                fmt_ratio(kind, cell["ratio"], cell["meets_goal"]),
            ]
            if name == "jointdesk":
                cells.append(fmt_goal(kind, row["goal"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pair(summary: dict) -> str:
    if not summary or summary.get("p50") is None:
        return "—"
    return f"{summary['p50']:,.0f} / {summary['p99']:,.0f}"


def curve_table(systems: dict) -> str:
    """Latency against arrival rate: intake and fan-out p50 / p99 of each system."""
    present = [name for name in SYSTEMS if systems.get(name)]
    rates = sorted({p["rate"] for name in present for p in systems[name].get("fanout", [])})
    head = ["applications/s"]
    for name in present:
        head += [f"{SHORT[name]} intake", f"{SHORT[name]} fan-out"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rate in rates:
        cells = [f"{rate:g}"]
        for name in present:
            point = next((p for p in systems[name]["fanout"] if p["rate"] == rate), None)
            if point is None:
                cells += ["—", "—"]
                continue
            mark = " (overloaded)" if point["saturated"] else ""
            cells += [_pair(point["intake_ms"]), _pair(point["fanout_client_ms"]) + mark]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def machine_line(machine: dict) -> str:
    return (
        f"{machine.get('system', '?')} {machine.get('machine', '')}, {machine.get('cpu', '?')}, "
        f"{machine.get('cores', '?')} cores; PostgreSQL {machine.get('postgresql', '?')}, "
        f"Redis {machine.get('redis', '?')}, Python {machine.get('python', '?')}"
    )


def _busy(name: str, busy: dict | None) -> str:
    if not busy:
        return f"{LABELS[name]} —"
    return (
        f"{LABELS[name]} {busy['before_start_cores']:.2f} before, "
        f"{busy['while_measured_cores']:.2f} while"
    )


def markdown(results: dict) -> str:
    """docs/benchmarks/latest.md: both tables and how they were made."""
    systems = results["systems"]
    present = tuple(name for name in SYSTEMS if systems.get(name))
    s = results["settings"]
    hello = {name: systems[name].get("hello_endpoint", "") for name in present}
    parts = [
        f"Measured {results['date']} on {machine_line(results['machine'])}"
        + (" (a --quick run: short durations, rough figures)" if results.get("quick") else "")
        + ".",
        "",
        (
            "Each system measured alone, the client beside it"
            if s.get("turns", "sequential") == "sequential"
            else "The systems up together and measured in turn, figure by figure (the others "
            "idle meanwhile), the client beside them"
        )
        + "; gunicorn -w 2 (sync) and "
        f"Celery -c 2 for the floor and JointDesk; throughput {_rounds(s)}after "
        f"{s['warmup']:g} s of warm-up; fan-out for {s['fanout_duration']:g} s per rate"
        + (
            f"; {s['busy_cores']} busy loop(s) running beside them all along (--busy-cores)"
            if s.get("busy_cores")
            else ""
        )
        + ". "
        "Ratios are to the floor of the same run (higher is better for throughput, lower for "
        "latency); ✓/✗ against the goal.",
        "",
        markdown_table(results["table"], present),
        "",
        "HTTP floor: " + "; ".join(f"{LABELS[n]} `{hello[n]}`" for n in present) + ".",
        "",
        "Other load on the machine (cores busy in a 2-s sample before each system started; "
        "cores busy while it was measured, itself and the client included): "
        + "; ".join(_busy(n, systems[n].get("machine_busy")) for n in present)
        + ".",
        "",
        "Latency against arrival rate (ms, p50 / p99; fan-out from the POST's answer to the "
        "poll that sees the last ticket queued):",
        "",
        curve_table(systems),
        "",
        "![latency against rate](curve.png)",
        "",
    ]
    return "\n".join(parts)


def write(results: dict, folder: Path) -> list[Path]:
    """results.json, latest.md and curve.png into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = [folder / "results.json", folder / "latest.md"]
    out[0].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    out[1].write_text(markdown(results))
    curve = folder / "curve.png"
    if draw_curve(results, curve):
        out.append(curve)
    return out


def draw_curve(results: dict, path: Path) -> bool:
    """Intake and fan-out latency (p50 dashed, p99 solid) against the arrival rate."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[bench]'): no curve drawn")
        return False
    systems = results["systems"]
    colours = {"floor": "#555555", "jointdesk": "#c0392b", "embedded": "#2471a3"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharey=True)
    marked = False
    panels = (
        ("fanout_client_ms", "fan-out: POST answered → last ticket queued"),
        ("intake_ms", "intake: POST round trip"),
    )
    for ax, (series, title) in zip(axes, panels, strict=True):
        for name in SYSTEMS:
            points = sorted((systems.get(name) or {}).get("fanout", []), key=lambda p: p["rate"])
            points = [p for p in points if p[series]["p50"] is not None]
            if not points:
                continue
            rates = [p["rate"] for p in points]
            for stat, style in (("p99", "-"), ("p50", "--")):
                ax.plot(
                    rates,
                    [p[series][stat] for p in points],
                    style,
                    color=colours[name],
                    marker="o" if stat == "p99" else None,
                    label=f"{LABELS[name]} {stat}",
                )
            over = [p for p in points if p["saturated"]]
            if over:
                ax.plot(
                    [p["rate"] for p in over],
                    [p[series]["p99"] for p in over],
                    "x",
                    color="black",
                    markersize=10,
                    label=None if marked else "overloaded (see latest.md)",
                )
                marked = True
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(sorted({p["rate"] for s in systems.values() if s for p in s["fanout"]}))
        ax.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.set_xlabel("applications per second (open loop)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"JointDesk against the floor — {results['date']}", fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


README_START = "<!-- make bench: side by side -->"
README_END = "<!-- /make bench: side by side -->"


def readme_block(results: dict) -> str:
    """The dated tables for the README's Performance section."""
    m = results["machine"]
    systems = results["systems"]
    present = tuple(name for name in SYSTEMS if systems.get(name))
    busy = [
        f"{SHORT[n]} {systems[n]['machine_busy']['before_start_cores']:.2f}"
        for n in present
        if systems[n].get("machine_busy")
    ]
    note = (
        f" Before it started, other work kept {busy[0].split()[-1]} of the "
        f"{m.get('cores', '?')} cores busy, so the figures are low and the ratios rough."
        if busy and float(busy[0].split()[-1]) > 0.25
        else ""
    )
    return "\n".join(
        [
            README_START,
            f"Last run: {results['date']}, {m.get('cores', '?')} cores ({m.get('cpu', '?')}), "
            f"PostgreSQL {str(m.get('postgresql', '?')).split()[0]}, Redis "
            f"{m.get('redis', '?')}, Python {m.get('python', '?')}"
            + (", a --quick run" if results.get("quick") else "")
            + (
                f", {results['settings']['busy_cores']} busy loop(s) beside (--busy-cores)"
                if results.get("settings", {}).get("busy_cores")
                else ""
            )
            + "."
            + note
            + " [`latest.md`](docs/benchmarks/latest.md) has the details, `results.json` "
            "every number.",
            "",
            markdown_table(results["table"], present),
            "",
            "Latency against the arrival rate (ms, p50 / p99):",
            "",
            curve_table(systems),
            README_END,
        ]
    )


def update_readme(path: Path, results: dict) -> bool:
    """Puts ``readme_block`` between the markers in ``path``; False when they are missing."""
    text = path.read_text()
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    path.write_text(text[:start] + readme_block(results) + text[end + len(README_END) :])
    return True
