"""What a run records: `results.json`, `summary.json`, tables and plots.

`runner.run` writes each seed's results and, over seeds, the summary of
`summarize`; the experiments/ scripts read them back and print their own
tables with the same `table` formatter.
"""

import json
import math
import os
import shlex
import statistics
import sys
from pathlib import Path

import numpy as np

from tasks.success import median_or_none, wilson_interval


def summarize(all_results):
    """Success rate and, per eval set, the median of each metric over seeds."""
    first = all_results[0]
    per_length = []
    for i, entry in enumerate(first["eval"]):
        row = {k: entry[k] for k in ("length", "split") if k in entry}
        entries = [r["eval"][i] for r in all_results]
        # A metric is numeric, or None where a seed diverged (all seeds may
        # have diverged: the median is then None too).
        keys = [
            key
            for key in dict.fromkeys(k for e in entries for k in e)
            if key not in row and all(_is_metric(e.get(key)) for e in entries)
        ]
        for key in keys:
            row[f"median_{key}"] = _median([e.get(key) for e in entries])
        # A per-length criterion (the MNIST tasks'): its rate over seeds,
        # after hardening and as trained.
        for suffix in ("", "_raw"):
            if all(isinstance(e.get("success" + suffix), bool) for e in entries):
                row.update(_rate([e["success" + suffix] for e in entries], suffix))
        per_length.append(row)
    summary = {
        "task": first["task"],
        "cell": first["cell"],
        "static": first.get("static", False),
        "seeds": [r["seed"] for r in all_results],
        "median_train_seconds": _median([r["train_seconds"] for r in all_results]),
        "eval": per_length,
        "versions": first["versions"],
    }
    if "success" in first:
        summary.update(_rate([bool(r["success"]) for r in all_results]))
        if all("success_raw" in r for r in all_results):
            raw = [bool(r["success_raw"]) for r in all_results]
            summary.update(_rate(raw, "_raw"))
        # Over the solved seeds only, as Madsen & Johansen report them.
        solved = [r for r in all_results if r["success"]]
        summary["median_solved_step"] = median_or_none(
            [r.get("solved_step") for r in solved]
        )
        summary["median_sparsity_error"] = median_or_none(
            [r.get("sparsity_error") for r in solved]
        )
    return summary


def _rate(successes, suffix=""):
    """`successes`, `success_rate` and `success_ci` (with `suffix`) of a list
    of booleans: the rate over seeds and its 95% Wilson interval."""
    n = len(successes)
    return {
        f"successes{suffix}": successes,
        f"success_rate{suffix}": sum(successes) / n,
        f"success_ci{suffix}": list(wilson_interval(sum(successes), n)),
    }


def _is_metric(value):
    return value is None or (
        isinstance(value, (int, float)) and not isinstance(value, bool)
    )


def _median(values):
    """Median that treats None (a non-finite result) as +infinity."""
    ranked = [math.inf if v is None else v for v in values]
    value = statistics.median(ranked)
    return None if not math.isfinite(value) else value


def command_line(script, argv=None, backend=None):
    """The command that reruns `script` (`"bench/cells.py"`) with `argv`
    (`None` for `sys.argv[1:]`), as a record names it: prefixed with
    `KERAS_BACKEND=...` for a `backend` other than TensorFlow, the default."""
    argv = sys.argv[1:] if argv is None else list(argv)
    prefix = "" if backend in (None, "tensorflow") else f"KERAS_BACKEND={backend} "
    return prefix + shlex.join(["python", script, *argv])


def write_json(path, data):
    """Writes JSON atomically: a reader never sees a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(_finite(data), f, indent=2, allow_nan=False)
        f.write("\n")
    os.replace(tmp, path)


def _finite(value):
    # JSON has no Infinity or NaN: a diverged metric is written as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


# What a run or seed that stopped writes in place of its results: a sweep's
# failed run (`runner.sweeps`), a vectorised seed stopped by a NaN or Inf
# loss (`runner.vectorize`).
FAILED_FILE = "failed.json"
METRIC_COLUMNS = ("mse", "scaled_error", "mae", "accuracy", "relative_error")


def format_table(results):
    title = f"{results['task']} / {results['cell']} / seed {results['seed']}"
    if "success" in results:
        title += f" / success: {results['success']}"
        if "success_raw" in results:
            title += f" (as trained: {results['success_raw']})"
    return title + "\n" + _metric_table(results["eval"], prefix="")


def format_summary(summary):
    title = f"{summary['task']} / {summary['cell']} / seeds {summary['seeds']}"
    if "success_rate" in summary:
        low, high = summary["success_ci"]
        raw = summary.get("success_rate_raw")
        as_trained = "" if raw is None else f", as trained {raw:.2f}"
        title += (
            f" / success rate {summary['success_rate']:.2f} "
            f"(95% CI {low:.2f}-{high:.2f}{as_trained}), median solved step "
            f"{_fmt(summary['median_solved_step'])}, median sparsity error "
            f"{_fmt(summary['median_sparsity_error'])}"
        )
    return title + "\n" + _metric_table(summary["eval"], prefix="median_")


def _metric_table(entries, prefix):
    columns = [prefix + c for c in METRIC_COLUMNS if prefix + c in entries[0]]
    rows = [
        [str(e["length"]), e.get("split", "")] + [_fmt(e.get(c)) for c in columns]
        for e in entries
    ]
    return table(["length", "split"] + columns, rows)


def _fmt(value):
    if value is None:
        return "inf/nan"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(header, rows, markdown=False):
    """A table of strings: aligned plain text, or a Markdown table.

    Args:
        header: List of column titles.
        rows: List of rows, each a list of strings as long as `header`.
        markdown: Whether to write Markdown (`| a | b |` with a `|---|`
            rule, cells unpadded) rather than aligned columns for a
            terminal. Defaults to `False`.

    Returns:
        The table, lines joined by newlines, without a final newline.
    """
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    for r in rows:
        lines.append(" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    return "\n".join(lines)


def plot_errors(all_results, path, metric=None):
    """Error against length on log axes: every seed, their median, the
    success threshold per length, and the training length.

    Args:
        all_results: The `results.json` dicts of one run or of several seeds.
        path: The image file to write.
        metric: The error plotted; `None` for the MSE where the runs are
            judged against a threshold (theirs is an MSE), else the MAE.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = all_results[0]
    static = first.get("static", False)
    entries = first["eval"]
    judged = any("success_threshold_mse" in e for e in entries)
    metric = metric or (
        "mse" if judged else next(m for m in ("mae", "mse") if m in entries[0])
    )
    # Static sets differ by value range, not length: one position each.
    xs = (
        list(range(1, len(entries) + 1))
        if static
        else [max(e["length"], 1) for e in entries]
    )
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    curves = []
    for r in all_results:
        ys = [e.get(metric) for e in r["eval"]]
        ys = [np.nan if v is None or v <= 0 else v for v in ys]
        curves.append(ys)
        several = len(all_results) > 1
        ax.plot(
            xs,
            ys,
            marker="o",
            lw=0.8 if several else 1.5,
            alpha=0.45 if several else 1.0,
            label=None if several else f"seed {r['seed']}",
        )
    if len(all_results) > 1:
        median = np.nanmedian(np.array(curves, dtype=float), axis=0)
        ax.plot(xs, median, color="black", lw=2, marker="o", label="median")
    if judged and metric == "mse":
        thresholds = [e.get("success_threshold_mse") for e in entries]
        ax.plot(
            xs,
            [np.nan if t is None else t for t in thresholds],
            color="tab:red",
            ls="--",
            marker="_",
            label="success threshold",
        )
    if not static:
        if first.get("train_length") is not None:
            ax.axvline(
                first["train_length"], color="grey", ls=":", label="training length"
            )
        ax.set_xscale("log")
        ax.set_xlabel("sequence length")
    else:
        ax.set_xticks(xs, [e.get("split", "") for e in entries])
        ax.set_xlabel("value range")
    plotted = [v for line in ax.get_lines() for v in np.ravel(line.get_ydata())]
    if any(np.isfinite(v) and v > 0 for v in plotted):
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "every error diverged", ha="center", transform=ax.transAxes)
    ax.set_ylabel(metric)
    seeds = "" if len(all_results) == 1 else f", {len(all_results)} seeds"
    ax.set_title(f"{first['task']} / {first['cell']}{seeds}")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
