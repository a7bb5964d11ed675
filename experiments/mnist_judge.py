"""Judges finished MNIST runs again against the packaged reference.

A MNIST run is judged when it finishes, against the reference in
`tasks/mnist/reference.json` at that time. When the reference is measured
later (or again), this rewrites each run's verdicts from the errors it
stored (`tasks.mnist.thresholds.judge`): every `seed_*/results.json` under
each folder given, then the folder's `summary.json` over its seeds, and
redraws their `extrapolation.png`, whose threshold line shows the bars. No
model is loaded and nothing is trained.

    python experiments/mnist_judge.py runs/mnist_table/mnist_count-nac
"""

import argparse
import json
from pathlib import Path

from runner.results import plot_errors, summarize, write_json
from tasks import mnist
from tasks.mnist import thresholds


def judge_folder(folder, reference=None):
    """Judges every seed's run under `folder` again; writes them, their
    plots, the folder's `summary.json` and its plot, and returns the
    summary.

    Args:
        folder: A `train.py --seeds N --out FOLDER` output folder.
        reference: The reference file; `None` (default) for the packaged
            one.

    Raises:
        ValueError: for a folder without a MNIST run.
    """
    folder = Path(folder)
    paths = sorted(folder.glob("seed_*/results.json"))
    if not paths:
        raise ValueError(f"{folder}: no seed_*/results.json to judge")
    judged = []
    for path in paths:
        results = json.loads(path.read_text())
        if results.get("task") not in mnist.TASKS:
            raise ValueError(f"{path}: not a MNIST run ({results.get('task')!r})")
        results = thresholds.judge(results, reference)
        write_json(path, results)
        plot_errors([results], path.parent / "extrapolation.png")
        judged.append(results)
    judged.sort(key=lambda r: r["seed"])
    summary = summarize(judged)
    write_json(folder / "summary.json", summary)
    plot_errors(judged, folder / "extrapolation.png")
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument(
        "--reference",
        default=None,
        help="the reference file (default: tasks/mnist/reference.json)",
    )
    options = parser.parse_args(argv)
    for folder in options.folders:
        try:
            summary = judge_folder(folder, options.reference)
        except ValueError as error:
            parser.error(str(error))
        rates = ", ".join(
            f"L={e['length']}: {sum(e['successes_raw'])}/{len(e['successes_raw'])}"
            f" raw, {sum(e['successes'])}/{len(e['successes'])}"
            for e in summary["eval"]
            if "successes" in e
        )
        print(f"{folder}: {rates or 'no threshold'}")


if __name__ == "__main__":
    main()
