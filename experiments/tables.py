"""Builds every headline table of the README and docs from committed summaries.

A table lives in a Markdown file between two markers,

    <!-- table: NAME -->
    ...
    <!-- end table: NAME -->

and everything between them is what `TABLES[NAME]` builds from the
`summary.json` files (and seeds' `results.json`) committed under
`results/`, followed by the commands that made them (the `command` each
sweep wrote beside its summaries). `python experiments/tables.py` rewrites
every block; `--check` rewrites nothing and exits with status 1, naming each
block whose text differs from what the summaries give (CI runs it), or 2
when a table's summaries are missing.

    python experiments/tables.py            # rewrite README.md and docs/*.md
    python experiments/tables.py --check    # what CI runs
"""

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

from tasks.arithmetic import OPS
from tasks.arithmetic.recipes import FINAL_LEARNING_RATE_FRACTION
from tasks.cells import DEFAULT_CELL, display_name
from tasks.mnist import thresholds
from tasks.mnist.recipes import MNIST_RECIPE
from tasks.registry import get_task

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
DOCUMENTS = ("README.md", "docs/*.md")
BLOCK = re.compile(
    r"(<!-- table: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)"
    r"(<!-- end table: (?P=name) -->)",
    re.DOTALL,
)


class MissingResults(Exception):
    """A table's summaries are not under results/."""


@dataclasses.dataclass(frozen=True)
class Table:
    """One headline table.

    Args:
        build: Callable `build(results_dir)` returning the Markdown of the
            table (without the commands).
        sources: The folders under `results/` it reads; their `command`
            files (one command per line) are listed below the table.
        shows_command: `None`, or a callable `shows_command(line)` that
            says whether a command's runs are in the table (for a table
            that shows some of the folders its sources hold).
    """

    build: object
    sources: tuple
    shows_command: object = None


def _read_json(path):
    if not path.is_file():
        raise MissingResults(f"{path.relative_to(ROOT)} is missing")
    return json.loads(path.read_text())


def commands(sources):
    """The commands that made the summaries of `sources`, in order, once each."""
    found = []
    for source in sources:
        if source.endswith(".json"):
            # A benchmark's record (under bench/results/) names its command.
            found.append(_read_json(ROOT / source)["command"])
            continue
        path = RESULTS / source / "command"
        if not path.is_file():
            raise MissingResults(f"{path.relative_to(ROOT)} is missing")
        found += [line for line in path.read_text().splitlines() if line.strip()]
    return list(dict.fromkeys(found))


def render(name):
    """The text of block `name`: the table, then its commands."""
    table = TABLES[name]
    lines = [table.build(RESULTS).rstrip(), "", "```bash"]
    lines += [
        line
        for line in commands(table.sources)
        if table.shows_command is None or table.shows_command(line)
    ]
    lines += ["```", ""]
    return "\n".join(lines)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def documents():
    """The Markdown files that may hold tables."""
    paths = []
    for pattern in DOCUMENTS:
        paths += sorted(ROOT.glob(pattern))
    return paths


def update(check):
    """Rewrites (or, with `check`, compares) every block; returns problems."""
    stale, missing, seen = [], [], set()
    for path in documents():
        text = path.read_text()

        def replace(match, path=path):
            name = match.group("name")
            seen.add(name)
            if name not in TABLES:
                missing.append(f"{path.relative_to(ROOT)}: unknown table {name!r}")
                return match.group(0)
            try:
                body = render(name)
            except MissingResults as error:
                missing.append(f"{path.relative_to(ROOT)}: table {name}: {error}")
                return match.group(0)
            if body != match.group("body"):
                stale.append(f"{path.relative_to(ROOT)}: table {name}")
            return match.group(1) + body + match.group(4)

        new = BLOCK.sub(replace, text)
        if new != text and not check:
            path.write_text(new)
    unused = sorted(set(TABLES) - seen)
    return stale, missing, unused


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="rewrite nothing; exit 1 if a table differs from its summaries",
    )
    args = parser.parse_args(argv)
    stale, missing, unused = update(args.check)
    for line in missing:
        print(f"tables.py: error: {line}", file=sys.stderr)
    if missing:
        return 2
    for name in unused:
        print(f"tables.py: note: table {name} is in no document", file=sys.stderr)
    if args.check and stale:
        for line in stale:
            print(f"tables.py: differs from its summaries: {line}", file=sys.stderr)
        print("run `python experiments/tables.py` and commit", file=sys.stderr)
        return 1
    verb = "would rewrite" if args.check else "rewrote"
    print(f"tables.py: {verb} {len(stale)} table(s); {len(seen_tables())} in all")
    return 0


def seen_tables():
    names = set()
    for path in documents():
        names |= {m.group("name") for m in BLOCK.finditer(path.read_text())}
    return names


# ----------------------------------------------------------- the builders


def _summary(results, *parts):
    return _read_json(results.joinpath(*parts, "summary.json"))


def _count(successes):
    return f"{sum(successes)}/{len(successes)}"


def _seeds(summary):
    """The seeds as their runs of consecutive numbers: `500–509, 700–719`."""
    runs = []
    for seed in summary["seeds"]:
        if runs and seed == runs[-1][-1] + 1:
            runs[-1].append(seed)
        else:
            runs.append([seed])
    return ", ".join(
        str(run[0]) if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs
    )


def _on_seeds(summary, seeds):
    """`summary`'s per-seed successes on `seeds` alone (each must be there)."""
    index = {seed: i for i, seed in enumerate(summary["seeds"])}
    missing = sorted(set(seeds) - set(index))
    if missing:
        raise MissingResults(f"seeds {missing} are not in {summary['task']}'s sweep")
    picked = dict(summary, seeds=list(seeds))
    for key in ("successes", "successes_raw"):
        picked[key] = [summary[key][index[seed]] for seed in seeds]
    return picked


def _by_length(summary):
    return {e["length"]: e for e in summary["eval"]}


def _per_length(summary, lengths, suffix=""):
    rows = _by_length(summary)
    return ", ".join(
        _count(rows[n]["successes" + suffix]) if n in rows else "-" for n in lengths
    )


def _solved_step(summary):
    step = summary.get("median_solved_step")
    return "-" if step is None else f"{step:.0f}"


def _default_cell(op, static=False):
    return get_task(op).cell_for(static) or DEFAULT_CELL


def _default_sweep(op):
    """The folder name of an op's recurrent sweep with its default cell and
    today's recipe (a run of an earlier recipe is kept under a longer name)."""
    return f"{op}-{_default_cell(op)}"


def _runs_default_cell(command):
    """Whether a recurrent sweep's command (`--out .../<op>-<cell>...`) ran
    its op's default cell under today's recipe; a command without `--out`
    is kept, a comment (on the lines around it, some of them left out) not."""
    if command.startswith("#"):
        return False
    if "--out " not in command:
        return True
    out = command.split("--out ", 1)[1].split()[0]
    name = out.rstrip("/").rsplit("/", 1)[-1].removesuffix("-no-memory")
    # A later block of seeds of the same sweep runs into `<sweep>-<first seed>`.
    name = re.sub(r"-\d+$", "", name)
    return name == _default_sweep(name.split("-")[0])


def recurrent_table(results):
    """Table 1's task: the default cell per op, success as trained and
    hardened at every extrapolation length (100 and 1000)."""
    rows = []
    for op in OPS:
        cell = _default_cell(op)
        folder = results / "arithmetic" / "recurrent" / _default_sweep(op)
        if not folder.is_dir():
            # Said in the table rather than left out of it.
            rows.append([op, cell.upper(), "not yet rerun under this protocol"]
                        + [""] * 4)  # fmt: skip
            continue
        summary = _summary(results, "arithmetic", "recurrent", folder.name)
        low, high = summary["success_ci_raw"]
        rows.append(
            [
                op,
                cell.upper(),
                _seeds(summary),
                f"**{_count(summary['successes_raw'])}**",
                f"[{low:.2f}, {high:.2f}]",
                _count(summary["successes"]),
                _solved_step(summary),
            ]
        )
    header = ["op", "cell", "seeds", "success as trained", "95% CI",
              "success hardened", "median solved step"]  # fmt: skip
    return markdown_table(header, rows)


def _run_config(folder):
    """The configuration a sweep ran with, from its first seed's record."""
    seeds = sorted(folder.glob("seed_*/results.json"))
    if not seeds:
        raise MissingResults(f"{folder.relative_to(ROOT)} holds no seed's results")
    return _read_json(seeds[0])["run_config"]


def _recipe(config):
    """The rate, steps and sparsity pull of a sweep's `run_config`."""
    optim, pull = config["optim"], config["regularization"]
    rate = f"{optim['learning_rate']:g}"
    if optim["lr_decay"]:
        rate += f", cosine to {FINAL_LEARNING_RATE_FRACTION:.0%}"
    if optim.get("adam_epsilon") is not None:
        rate += ", Adam ε " + f"{optim['adam_epsilon']:g}".replace("e-0", "e-")
    strength = f"{pull['sparsity']:g}"
    if pull["sparsity"]:
        strength += f" from {pull['sparsity_start']:.0%}"
        if pull["sparsity_end"] is not None:
            strength += f", full at {pull['sparsity_end']:.0%}"
        if pull["sparsity_stop"] is not None:
            strength += f", off at {pull['sparsity_stop']:.0%}"
    return rate, str(optim["steps"]), strength


def arithmetic_runs_table(source):
    """Every arithmetic sweep (recurrent, or static) under
    `results/<source>`, one row each: its op, cell and recipe (rate, steps,
    sparsity pull), success as trained and hardened."""

    def build(results):
        folder = results / source
        if not folder.is_dir():
            raise MissingResults(f"{folder.relative_to(ROOT)} is missing")
        rows, memories = [], []
        for run in sorted(p for p in folder.iterdir() if p.is_dir()):
            summary = _summary(results, source, run.name)
            config = _run_config(run)
            rows.append(
                [
                    summary["task"],
                    display_name(summary["cell"]),
                    *_recipe(config),
                    _seeds(summary),
                    _count(summary["successes_raw"]),
                    _count(summary["successes"]),
                ]
            )
            # Whether its cells started as a memory of their state.
            memories.append(config.get("model", {}).get("state_memory", True))
        header = ["op", "cell", "rate", "steps", "sparsity pull", "seeds",
                  "success as trained", "hardened"]  # fmt: skip
        if not all(memories):
            # Only where a run went without the one prior the recipes keep.
            header.insert(2, "state block")
            for row, memory in zip(rows, memories, strict=True):
                row.insert(2, "memory" if memory else "random")
        return markdown_table(header, rows)

    return build


def _changed_flags(config, baseline):
    """The flags that take `baseline`'s training configuration to `config`'s
    (the run's own seed, output and infrastructure left out)."""
    changed = []
    for section in ("data", "model", "optim", "regularization", "evaluation"):
        for field, value in config[section].items():
            if value != baseline[section].get(field):
                changed.append(_as_flag(field, value))
    return " ".join(changed) or "none (the recipe)"


def _as_flag(field, value):
    """`field=value` as `train.py` takes it: a switch on or off, a list
    comma-joined, a float in its shortest form."""
    flag = "--" + field.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else flag.replace("--", "--no-", 1)
    if isinstance(value, list | tuple):
        return f"{flag} {','.join(map(str, value))}"
    return f"{flag} {value:g}" if isinstance(value, float) else f"{flag} {value}"


def _solved(success):
    return "solved" if success else "failed"


def trap_probe_table(source, baseline="recipe"):
    """Arms run on the seeds a sweep left in a trap, one row each: what the
    arm changes from the `baseline` arm, and per seed, success as trained
    and hardened with the interpolation MSE as trained."""

    def build(results):
        folder = results / source
        if not folder.is_dir():
            raise MissingResults(f"{folder.relative_to(ROOT)} is missing")
        arms = sorted(p for p in folder.iterdir() if p.is_dir())
        arms.sort(key=lambda arm: arm.name != baseline)
        base_config = _run_config(folder / baseline)
        seeds = sorted(
            (p.name for p in (folder / baseline).glob("seed_*")),
            key=lambda name: int(name.removeprefix("seed_")),
        )
        rows = []
        for arm in arms:
            row = [_changed_flags(_run_config(arm), base_config)]
            for seed in seeds:
                record = _read_json(arm / seed / "results.json")
                verdict = _solved(record["success_raw"])
                if record["success"] != record["success_raw"]:
                    verdict += f" (hardened: {_solved(record['success'])})"
                # The first evaluation is at the training length.
                row.append(f"{verdict}, {record['eval'][0]['mse_raw']:.2g}")
            rows.append(row)
        header = ["change to the recipe"] + [
            f"seed {seed.removeprefix('seed_')}: as trained, interpolation MSE"
            for seed in seeds
        ]
        return markdown_table(header, rows)

    return build


def state_memory_table(defaults_only):
    """The one prior the recipes keep, ablated: each sweep with and without
    its state block starting as a memory (`--no-state-memory`); with
    `defaults_only`, only each op's default cell."""

    def build(results):
        ablation = results / "arithmetic" / "recurrent-no-memory"
        if not ablation.is_dir():
            raise MissingResults(f"{ablation.relative_to(ROOT)} is missing")
        rows = []
        for folder in sorted(ablation.iterdir()):
            if not folder.is_dir():
                continue
            with_prior = _summary(results, "arithmetic", "recurrent", folder.name)
            without = _summary(
                results, "arithmetic", "recurrent-no-memory", folder.name
            )
            op, cell = without["task"], without["cell"]
            if defaults_only and folder.name != _default_sweep(op):
                continue
            # The sweep with the prior may hold later blocks of seeds too.
            with_prior = _on_seeds(with_prior, without["seeds"])
            rows.append(
                [
                    op,
                    display_name(cell),
                    _seeds(without),
                    _count(with_prior["successes_raw"]),
                    _count(with_prior["successes"]),
                    _count(without["successes_raw"]),
                    _count(without["successes"]),
                ]
            )
        header = ["op", "cell", "seeds", "with the prior: as trained", "hardened",
                  "without it: as trained", "hardened"]  # fmt: skip
        return markdown_table(header, rows)

    return build


def _mnist_rows(results, task, rows, lengths):
    lines = []
    for label, row in rows:
        summary = _summary(results, "mnist", task, row)
        lines.append(
            [
                label,
                _seeds(summary),
                _per_length(summary, lengths, "_raw"),
                _per_length(summary, lengths),
            ]
        )
    return lines


# Madsen & Johansen (ICLR 2020), their Table 3 / appendix: success out of 10
# at the lengths of each table, under their protocol.
PUBLISHED_MNIST = {
    "mnist_add": ("Madsen & Johansen's NAU (their paper)", "7, 8, 7, 8 of 10"),
    "mnist_product": ("Madsen & Johansen's NMU (their paper)", "9, 10, 9, 8 of 10"),
}
# Trask et al.'s recurrent baselines, by name and cell, under the baseline
# recipe (`tasks.mnist.recipes.MNIST_BASELINE_RECIPE`), on the block of the
# default heads' seeds (530 onwards), so each baseline's seed meets the
# same test sequences as the head's.
MNIST_BASELINES = (
    ("LSTM", "lstm"),
    ("GRU", "gru"),
    ("RNN-tanh", "rnn_tanh"),
    ("RNN-ReLU", "rnn_relu"),
)
_BASELINE_ROWS = tuple(
    (f"{name} baseline", f"{cell}-530") for name, cell in MNIST_BASELINES
)
# The rows measured under the protocol, per task, by label and folder (the
# cell, then what sets a block apart); the task's default head first. Rows
# measured before the recipe ended the head's own rate at the snap
# (b867789) say so.
MNIST_ROWS = {
    "mnist_count": (
        ("NAC head (the default cell)", "nac-530"),
        ("NAC head, before the rate stop", "nac"),
        *_BASELINE_ROWS,
    ),
    "mnist_add": (
        ("NAU head (the default cell)", "nau-530"),
        ("NAU head, at the encoder's rate after the snap", "nau-520"),
        ("NAU head, its own rate to the end (`--head-rate-stop 1`)",
         "nau-no-rate-stop"),
        ("NALU head", "nalu-530"),
        ("NALU head, at the encoder's rate after the snap", "nalu"),
        ("NAC head, before the rate stop", "nac"),
        ("NALU head, before the rate stop", "nalu-before-rate-stop"),
        *_BASELINE_ROWS,
    ),
    "mnist_product": (
        ("NMU head (the default cell)", "nmu-530"),
        ("NMU head, before the rate stop", "nmu"),
    ),
}  # fmt: skip
MNIST_LENGTHS = (1, 10, 100, 1000)
# The tasks judged under the protocol.
MNIST_JUDGED = ("mnist_count", "mnist_add")
PRODUCT_LENGTHS = (1, 2, 10, 20)


def mnist_table(results, tasks=None):
    """Table 2: counting and addition, success per length, as trained and
    hardened, from a random start, judged against references on their own
    seeds."""
    text = []
    for task in tasks or MNIST_JUDGED:
        lines = _mnist_rows(results, task, MNIST_ROWS[task], MNIST_LENGTHS)
        if task in PUBLISHED_MNIST:
            label, counts = PUBLISHED_MNIST[task]
            lines.append([label, "0–9", "", counts])
        header = ["`" + task + "`", "seeds",
                  "success as trained, L=1, 10, 100, 1000",
                  "success hardened, L=1, 10, 100, 1000"]  # fmt: skip
        text.append(markdown_table(header, lines))
    return "\n\n".join(text)


def mnist_summary_table(results, tasks=None):
    """The README's Table 2 line per task: the default head's success per
    length as trained and hardened, beside Madsen & Johansen's."""
    lines = []
    for task in tasks or MNIST_JUDGED:
        (label, folder), *_ = MNIST_ROWS[task]
        # The row's first word is its cell: "NAU head (the default cell)".
        label = f"`{task}`, {label.split()[0]}"
        (line,) = _mnist_rows(results, task, ((label, folder),), MNIST_LENGTHS)
        published = PUBLISHED_MNIST.get(task, ("", "not published"))[1]
        lines.append([*line, published])
    header = ["task, default head", "seeds", "as trained, L=1, 10, 100, 1000",
              "hardened", "M&J's NAU"]  # fmt: skip
    return markdown_table(header, lines)


# What Trask et al.'s Table 2 reports per task: counting's accuracy (every
# one of the 10 counts right) and addition's mean absolute error.
PAPER_METRICS = {
    "mnist_count": ("median accuracy", "median_accuracy", "{:.3f}"),
    "mnist_add": ("median MAE", "median_mae", "{:.2f}"),
}


def mnist_baselines_table(results, tasks=None):
    """Trask et al.'s Table 2 metric per length for the recurrent baselines
    beside the task's default head: where each fits, and where it stops
    extrapolating."""
    text = []
    for task in tasks or MNIST_JUDGED:
        title, key, form = PAPER_METRICS[task]
        head, *_ = MNIST_ROWS[task]
        lines = []
        for label, folder in (head, *_BASELINE_ROWS):
            summary = _summary(results, "mnist", task, folder)
            rows = _by_length(summary)
            values = (
                form.format(rows[n][key]) if n in rows else "-" for n in MNIST_LENGTHS
            )
            lines.append([label, _seeds(summary), *values])
        lengths = [f"L={n}" for n in MNIST_LENGTHS]
        header = [f"`{task}`, {title}", "seeds", *lengths]
        text.append(markdown_table(header, lines))
    return "\n\n".join(text)


def _runs_mnist_default(command):
    """Whether a MNIST command trained or judged a task's default head's
    block (`MNIST_ROWS`' first row); comments are left out, as in
    `_runs_default_cell`."""
    if command.startswith("#"):
        return False
    names = []
    for task, ((_, folder), *_) in MNIST_ROWS.items():
        names += [f"/{task}-{folder}", f"--tasks {task} --rows {folder} "]
    return any(name in command + " " for name in names)


def _runs_mnist_baseline(command):
    """Whether a MNIST command judged a baseline's block or a task's default
    head's, the rows of `mnist_baselines_table`."""
    if command.startswith("#"):
        return False
    baseline = any(f"-{folder} " in command + " " for _, folder in _BASELINE_ROWS)
    return baseline or _runs_mnist_default(command)


def mnist_product_table(results):
    """The sequential MNIST product: success at lengths 1, 2, 10 and 20."""
    task = "mnist_product"
    lines = _mnist_rows(results, task, MNIST_ROWS[task], PRODUCT_LENGTHS)
    label, counts = PUBLISHED_MNIST["mnist_product"]
    lines.append([label, "0–9", "", counts])
    header = ["row", "seeds", "success as trained, L=1, 2, 10, 20",
              "success hardened, L=1, 2, 10, 20"]  # fmt: skip
    return markdown_table(header, lines)


# The flags a MNIST random-start probe varies: (results.json section, field,
# flag).
PROBE_FLAGS = (
    ("optim", "head_learning_rate", "--head-learning-rate"),
    ("optim", "head_rate_stop", "--head-rate-stop"),
    ("regularization", "class_balance", "--class-balance"),
    ("regularization", "class_confidence", "--class-confidence"),
    ("regularization", "weight_snap", "--weight-snap"),
    ("regularization", "class_aids_stop", "--class-aids-stop"),
)
# The switches it varies: (section, field, value, flag).
PROBE_SWITCHES = (
    ("data", "curriculum", False, "--no-curriculum"),
    ("model", "solved_head", True, "--solved-head"),
    ("model", "encoder", "linear", "--encoder linear"),
    ("optim", "head_rate_after_stop", 0.0, "--head-rate-after-stop 0"),
)
# The flags it shows only where they differ from the MNIST recipe's value:
# (section, field, flag).
PROBE_CHANGES = (("optim", "learning_rate", "--learning-rate"),)


def mnist_probe_table(source, lengths=None):
    """Scratch probes of the MNIST heads from a random start, one run per
    folder of `results/SOURCE`: its task, head, seed, the flags it set of
    `PROBE_FLAGS`, its test MSE per length (after hardening; the lengths
    given, else every length evaluated) beside the packaged bar, and how
    far the head's weights were from exact values when `--weight-snap`
    snapped them."""

    def build(results):
        runs = sorted((results / source).glob("*/results.json"))
        if not runs:
            raise MissingResults(f"results/{source}/*/results.json is missing")
        lines = []
        for path in runs:
            r = json.loads(path.read_text())
            config = r["run_config"]
            flags = " ".join(
                [
                    f"{flag} {config[section][field]:g}"
                    for section, field, flag in PROBE_FLAGS
                    if config[section].get(field)
                ]
                + [
                    flag
                    for section, field, value, flag in PROBE_SWITCHES
                    if config.get(section, {}).get(field) == value
                ]
                + [
                    f"{flag} {config[section][field]:g}"
                    for section, field, flag in PROBE_CHANGES
                    if config[section].get(field, MNIST_RECIPE.values[field])
                    != MNIST_RECIPE.values[field]
                ]
            )
            shown = [e for e in r["eval"] if lengths is None or e["length"] in lengths]
            # A reference (`--solved-head`) has no bar of its own.
            cells = [
                f"{e['mse']:.4g} / "
                + (
                    f"{e['success_threshold_mse']:.4g}"
                    if "success_threshold_mse" in e
                    else "-"
                )
                for e in shown
            ]
            snap = r.get("weight_snap")
            moved = (
                "-"
                if snap is None
                else f"{max(x['max_change'] for x in snap['snapped']):.2f}"
            )
            task = f"`{r['task']}`"
            flags = f"`{flags}`" if flags else "the recipe's"
            lines.append([task, r["cell"], str(r["seed"]), flags, *cells, moved])
        columns = [f"MSE / bar, L={e['length']}" for e in shown]
        header = ["task", "head", "seed", "flags", *columns, "largest snap"]
        return markdown_table(header, lines)

    return build


def mnist_thresholds_table(results):
    """The MNIST success thresholds and the reference seeds they come from."""
    reference = thresholds.read_reference()
    lines = []
    for task, encoders in reference.items():
        for encoder, entry in encoders.items():
            bounds = thresholds.thresholds(task, encoder)
            shown = [n for n in sorted(bounds) if n in (1, 2, 10, 20, 100, 1000)]
            lines.append(
                [
                    f"`{task}`",
                    encoder,
                    _seeds(entry),
                    ", ".join(f"L={n}: {bounds[n]:.3g}" for n in shown),
                    _held_out_text(thresholds.held_out(task, encoder), shown),
                ]
            )
    header = ["task", "encoder", "reference seeds", "threshold MSE",
              "reference seeds under the others' bar"]  # fmt: skip
    return markdown_table(header, lines)


def mnist_sample_noise_table(results):
    """Per block of saved models: the length-1 MSE each was tested with,
    its MSE on the whole test set, how a 1000-image sample's MSE spreads,
    and the encoder's bias per image (`experiments/mnist_sample_noise.py`)."""
    summary = _read_json(results / "mnist" / "sample-noise" / "summary.json")
    blocks = {}
    for run in summary["runs"]:
        # The nearest folder above the run's seed folders names its block:
        # `.../mnist_add-linear/seed_1000/seed_1000`.
        block = next(
            p.name for p in Path(run["run"]).parents if not p.name.startswith("seed_")
        )
        blocks.setdefault(block, []).append(run)

    def spread(runs, key, digits=2):
        values = [run[key] for run in runs]
        return (
            f"{min(values):.{digits}f} to {max(values):.{digits}f} "
            f"(mean {sum(values) / len(values):.{digits}f})"
        )

    lines = []
    for block, runs in blocks.items():
        lines.append(
            [
                f"`{block}`",
                _seeds({"seeds": [run["seed"] for run in runs]}),
                spread(runs, "mse_tested"),
                spread(runs, "mse_whole_test_set"),
                spread(runs, "sample_mse_std", 3),
                spread(runs, "bias_per_image", 3),
            ]
        )
    header = ["models", "seeds", "MSE at L=1 as tested",
              f"on all {summary['test_images']} test images",
              f"std of a {summary['sample']}-image sample's MSE",
              "bias per image"]  # fmt: skip
    return markdown_table(header, lines)


def _held_out_text(passes, lengths):
    """`held_out` per length, and at every one of `lengths` at once."""
    if not passes:
        return ""
    seeds = len(passes[lengths[0]])
    every = sum(all(passes[n][i] for n in lengths) for i in range(seeds))
    per_length = ", ".join(f"L={n}: {sum(passes[n])}/{seeds}" for n in lengths)
    return f"{per_length}; all {len(lengths)}: {every}/{seeds}"


def threshold_strength_table(results):
    """The recurrent threshold beside the targets' variance, per op and
    length, and whether a blind guess passes it."""
    summary = _summary(results, "arithmetic", "thresholds")
    rows = {}
    lengths = []
    for row in summary["rows"]:
        rows.setdefault(row["op"], {})[row["length"]] = row
        if row["length"] not in lengths:
            lengths.append(row["length"])
    lines = []
    for op, by_length in rows.items():
        cells = [by_length[n] for n in lengths]
        lines.append(
            [f"`{op}`"]
            + [f"{c['threshold_over_variance']:.1e}" for c in cells]
            + [", ".join(f"{c['guess_passes']}/{c['problems']}" for c in cells)]
        )
    header = (
        ["op"]
        + [f"threshold / variance, L={n}" for n in lengths]
        + ["blind guess passes, L=" + ", ".join(map(str, lengths))]
    )
    return markdown_table(header, lines)


def nalm_pilot_table(results):
    """The NALM benchmark's pilot: success per (op, unit, range), beside the
    published count, with the time a run took."""
    pilot = _read_json(results / "nalm" / "pilot" / "nalm_benchmark.json")
    lines, seconds = [], []
    for row in pilot["rows"]:
        low, high = row["success_ci"]
        step = row["median_solved_step"]
        published = row.get("published")
        seconds += row["train_seconds"]
        lines.append(
            [
                row["op"],
                row["unit"].upper(),
                row["label"],
                f"{row['successes']}/{row['seeds']}",
                f"[{low:.2f}, {high:.2f}]",
                "-" if published is None else f"{published}/25",
                "-" if step is None else f"{step:.0f}",
                f"{max(row['train_seconds']):.0f}",
            ]
        )
    header = ["op", "unit", "train -> extrapolation", "success", "95% CI",
              "published", "median solved step", "s / run"]  # fmt: skip
    median = sorted(seconds)[len(seconds) // 2]
    # The benchmark: 25 seeds on each of its nine ranges.
    runs = 25 * 9
    cost = (
        f"A run took a median {median:.0f} s of training here (one core); "
        f"one unit on one op of the benchmark ({runs} runs) is then about "
        f"{runs * median / 3600:.0f} core-hours."
    )
    return markdown_table(header, lines) + "\n\n" + cost


NALM_OPS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "div10": "÷ (10 inputs)"}


def nalm_benchmark_table(*sources, only=None):
    """The NALM benchmark run into `results/SOURCE`: per range (rows) and
    (op, unit) (columns), the successes out of the seeds beside the
    published count, then pooled.

    With several sources, a later one's (op, unit) replaces an earlier
    one's column (a unit rerun under a new recipe); `only`, a tuple of
    (op, unit), keeps those columns alone."""

    def build(results):
        records = [
            _read_json(results / source / "nalm_benchmark.json") for source in sources
        ]
        # Each (op, unit) from the last record that holds it, in the place
        # it first had (a dict keeps a key's place when it is set again).
        latest = {}
        for record in records:
            for row in record["rows"]:
                latest[(row["op"], row["unit"])] = record
        record = dict(records[0])
        for key in ("rows", "pooled"):
            record[key] = [
                r
                for column, source in latest.items()
                if only is None or column in only
                for r in source[key]
                if (r["op"], r["unit"]) == column
            ]
        return _nalm_benchmark_table(record)

    return build


# The lines of results/nalm/benchmark/command that ran only the NMRU
# before its aids, whose columns results/nalm/nmru-aids replaces.
BEFORE_THE_AIDS = (
    "--pairs div10:nmru --",
    "--pairs div:nmru --",
    "# the 2-input division at d265b27",
)


def _not_before_the_aids(line):
    return not any(marker in line for marker in BEFORE_THE_AIDS)


# The division aids' ablation on probe seeds: each variant's folder under
# results/nalm/division-aids, and the flags it ran with over the recipe.
DIVISION_AIDS = (
    ("neither (the paper's NMRU)", "neither", "--pair-pull 0 --weight-snap 0"),
    ("the pairs' pull alone", "pair-only", "--weight-snap 0"),
    ("the snap alone", "snap-only", "--pair-pull 0"),
    ("both (the recipe)", "both", "none"),
)


def nalm_division_aids_table(results):
    """The 10-input division on probe seeds with each of the NMRU's two
    aids left out: a row per variant, a column per range, then pooled."""
    lines, labels = [], {}
    for name, folder, flags in DIVISION_AIDS:
        record = _read_json(
            results / "nalm" / "division-aids" / folder / "nalm_benchmark.json"
        )
        cells = {r["range"]: r for r in record["rows"] if r["op"] == "div10"}
        for key, row in cells.items():
            labels.setdefault(key, row["label"])
        (pooled,) = [p for p in record["pooled"] if p["op"] == "div10"]
        lines.append(
            [name, f"`{flags}`" if flags != "none" else flags]
            + [f"{cells[k]['successes']}/{cells[k]['seeds']}" for k in labels]
            + [_pooled_text(pooled)]
        )
    header = ["NMRU", "flags over the recipe", *labels.values(), "pooled"]
    return markdown_table(header, lines)


def _pooled_text(pooled):
    """`successes/seeds [low%, high%]` of a benchmark's pooled entry."""
    low, high = pooled["success_ci"]
    return (
        f"{pooled['successes']}/{pooled['seeds']} [{100 * low:.0f}%, {100 * high:.0f}%]"
    )


def _nalm_benchmark_table(record):
    columns = list(dict.fromkeys((r["op"], r["unit"]) for r in record["rows"]))
    ranges = list(dict.fromkeys((r["range"], r["label"]) for r in record["rows"]))
    cells = {(r["op"], r["unit"], r["range"]): r for r in record["rows"]}
    lines = []
    for key, label in ranges:
        line = [label]
        for op, unit in columns:
            row = cells.get((op, unit, key))
            if row is None:
                line.append("not run")
                continue
            text = f"{row['successes']}/{row['seeds']}"
            if row.get("stopped"):
                text += f", {row['stopped']} NaN"
            if row.get("published") is not None:
                text += f" (pub. {row['published']}/25)"
            line.append(text)
        lines.append(line)
    pooled = {(p["op"], p["unit"]): p for p in record["pooled"]}
    line = ["pooled"]
    for column in columns:
        p = pooled[column]
        text = _pooled_text(p)
        if p.get("published") is not None:
            text += f" (pub. {100 * p['published']:.1f}%)"
        line.append(text)
    lines.append(line)
    seconds = sorted(s for r in record["rows"] for s in r["train_seconds"])
    header = ["train -> extrapolation"] + [
        f"{NALM_OPS.get(op, op)} {display_name(unit)}" for op, unit in columns
    ]
    note = (
        f"Training time, the seeds of a range vectorised on one core: a "
        f"median {seconds[len(seconds) // 2]:.1f} s per seed "
        f"({record['protocol']['seeds']} seeds per range)."
    )
    return markdown_table(header, lines) + "\n\n" + note


def _epsilon_records(results, before, after):
    """The benchmark records of a run with 1e-7 and its rerun with 1e-8,
    which must have run the same seeds."""
    records = [
        _read_json(results / folder / "nalm_benchmark.json")
        for folder in (before, after)
    ]
    if len({r["protocol"]["first_seed"] for r in records}) != 1:
        raise MissingResults(f"{before} and {after} ran different seeds")
    return records


def nalm_epsilon_table(pairs):
    """The NALM benchmark with Keras's Adam epsilon (1e-7) beside PyTorch's
    (1e-8): `pairs` of folders under `results/`, (run with 1e-7, run with
    1e-8), the same seeds in both; a column per (op, unit, epsilon), a row
    per range, then pooled."""

    def build(results):
        columns, ranges, cells = [], {}, {}
        for before, after in pairs:
            records = _epsilon_records(results, before, after)
            # Only what was rerun: the run with 1e-7 may hold more units.
            rerun = {(row["op"], row["unit"]) for row in records[1]["rows"]}
            for epsilon, record in zip(("1e-7", "1e-8"), records, strict=True):
                for row in record["rows"]:
                    if (row["op"], row["unit"]) not in rerun:
                        continue
                    key = (row["op"], row["unit"], epsilon)
                    if key not in columns:
                        columns.append(key)
                    ranges.setdefault(row["range"], row["label"])
                    cells[key + (row["range"],)] = row
                for p in record["pooled"]:
                    if (p["op"], p["unit"]) in rerun:
                        cells[(p["op"], p["unit"], epsilon, "pooled")] = p
        lines = []
        for key in list(ranges) + ["pooled"]:
            line = [ranges.get(key, "pooled")]
            for column in columns:
                row = cells.get(column + (key,))
                line.append(
                    "not run" if row is None else f"{row['successes']}/{row['seeds']}"
                )
            lines.append(line)
        header = ["train -> extrapolation"] + [
            f"{NALM_OPS.get(op, op)} {display_name(unit)}, ε {epsilon}"
            for op, unit, epsilon in columns
        ]
        return markdown_table(header, lines)

    return build


def nalm_epsilon_pooled_table(pairs):
    """The NALM benchmark with Keras's Adam epsilon (1e-7) beside PyTorch's
    (1e-8), one row per (op, unit) rerun: `pairs` as `nalm_epsilon_table`'s;
    each row's pooled successes with either epsilon, then the ranges whose
    count changed. An (op, unit) only the later run holds is left out."""

    def build(results):
        lines = []
        for before, after in pairs:
            records = _epsilon_records(results, before, after)
            old, new = (
                {(r["op"], r["unit"], r["range"]): r for r in record["rows"]}
                for record in records
            )
            pooled = [
                {(p["op"], p["unit"]): p for p in record["pooled"]}
                for record in records
            ]
            for key in dict.fromkeys((r["op"], r["unit"]) for r in records[1]["rows"]):
                if key not in pooled[0]:
                    # Not a rerun: the later run measured it first.
                    continue
                changes = []
                for (op, unit, r), row in new.items():
                    if (op, unit) != key:
                        continue
                    if key + (r,) not in old:
                        raise MissingResults(f"{before} has no {op}:{unit} on {r}")
                    earlier = old[key + (r,)]["successes"]
                    if earlier != row["successes"]:
                        label = row["label"].split(" ->")[0]
                        changes.append(f"{label} {earlier} → {row['successes']}")
                lines.append(
                    [
                        f"{NALM_OPS.get(key[0], key[0])} {display_name(key[1])}",
                        *(f"{p[key]['successes']}/{p[key]['seeds']}" for p in pooled),
                        "; ".join(changes) or "none",
                    ]
                )
        header = ["op, unit", "ε 1e-7 (pooled)", "ε 1e-8 (pooled)",
                  "ranges that changed (1e-7 → 1e-8)"]  # fmt: skip
        return markdown_table(header, lines)

    return build


# What bench/vectorize.py's rows are called in the table.
VECTORIZE_WAYS = {
    "per_seed": "per seed (2 at once)",
    "vectorized_25": "`--vectorize`, N = 25",
    "vectorized_100": "`--vectorize`, N = 100",
    "stable_nalu": "stable-nalu, per seed (2 at once)",
}


def vectorize_table(case):
    """bench/vectorize.py's runs per hour for one of its cases."""

    def build(results):
        record = _read_json(ROOT / "bench" / "results" / "vectorize.json")
        lines = []
        for name, row in record["cases"][case]["rows"].items():
            seconds = f"{row['wall_seconds_at_full_steps']:.0f}"
            if row["wall_at_full_steps"] != "measured":
                seconds += f" ({row['wall_at_full_steps']})"
            lines.append(
                [
                    VECTORIZE_WAYS.get(name, name),
                    f"{row['runs_per_hour']:.1f}",
                    f"**{row['speed_up']:.2f}**",
                    seconds,
                    f"{row['max_rss_mib']:.0f}",
                ]
            )
        header = ["way", "runs / hour", "vs per seed", "s per process",
                  "peak RSS MiB"]  # fmt: skip
        return markdown_table(header, lines)

    return build


def _bench_ms(ms):
    return f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def bench_cells_table(*records, by="backend"):
    """bench/cells.py's step times: the LSTM's milliseconds, and every other
    cell's as a multiple of it, one row per setting, in the records' order;
    the first column is the backend (`by="backend"`) or the units."""

    def build(results):
        groups = {}
        for record in records:
            for row in _read_json(ROOT / record)["rows"]:
                key = (row["backend"], row["jit"], row["units"], row["length"])
                groups.setdefault(key, {})[row["cell"]] = row
        cells = list(dict.fromkeys(c for g in groups.values() for c in g))
        cells.remove("lstm")
        lines = []
        for (backend, jit, units, length), row in groups.items():
            if by == "backend":
                first = BACKEND_NAMES[backend]
                # JAX always compiles; only TensorFlow's XLA is a choice.
                first += ", XLA" if jit and backend == "tensorflow" else ""
            else:
                first = units
            ratios = (
                f"{row[c]['ratio_to_lstm']:.2f}×" if c in row else "-" for c in cells
            )
            lines.append([first, length, _bench_ms(row["lstm"]["median_ms"]), *ratios])
        header = [by, "length", "LSTM ms", *cells]
        return markdown_table(header, lines)

    return build


BACKEND_NAMES = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


def bench_mnist_table(results):
    """bench/mnist.py's MNIST measurements: training throughput, memory,
    encode-once against naive evaluation, and the time to a target."""
    record = _read_json(ROOT / "bench" / "results" / "mnist-tensorflow.json")
    training = record["training"]
    evaluation = record["evaluation"]
    lengths = " / ".join(str(e["length"]) for e in evaluation)
    once = " / ".join(f"{e['encode_once_seconds']:.2f} s" for e in evaluation)
    naive = " / ".join(f"{e['naive_seconds_scaled']:.3g} s" for e in evaluation)
    encode = evaluation[0]["encode_seconds"]
    naive_timed = evaluation[0]["naive_sequences_timed"]
    sequences = evaluation[0]["sequences"]
    lines = [
        [
            f"training throughput (`model.fit`, batch {training['batch_size']} × "
            f"length {training['length']}, tf.data)",
            f"{round(training['images_per_second'], -2):,.0f} images/s",
        ],
        [
            "peak memory after training",
            f"{training['peak_rss_mib'] / 1024:.2f} GiB RSS",
        ],
        [
            f"evaluate {sequences} test sequences, encode-once, length {lengths}",
            f"{once} ({encode:.2f} s of it encoding the test images once)",
        ],
        [
            f"the same, naive (whole model per sequence; timed on {naive_timed}, "
            f"scaled to {sequences})",
            naive,
        ],
        [
            "largest difference between encode-once and naive predictions",
            f"{max(e['max_abs_difference'] for e in evaluation):g}",
        ],
    ]
    process = record.get("evaluate_process")
    if process:
        lengths = ",".join(str(e["length"]) for e in process["eval"])
        lines.append(
            [
                f"whole `train.py --task {process['task']} --evaluate model.keras "
                f"--eval-lengths {lengths}` process",
                f"{process['seconds']:.1f} s",
            ]
        )
    for budget in record.get("time_to_target", ()):
        lines.append(
            [
                f"training of the recipe at {budget['steps']} steps, relative "
                f"error at length 1000 (target {budget['target_relative_error']:.1%})",
                f"{budget['relative_error_1000']:.2%} in {budget['train_seconds']:.0f}"
                f" s ({'reached' if budget['reached'] else 'not reached'})",
            ]
        )
    return markdown_table(["measurement", "result"], lines)


# The tables, by name: what builds each, and the folders under results/
# whose `command` files list the commands that made its summaries.
TABLES = {
    "recurrent": Table(
        recurrent_table, ("arithmetic/recurrent",), shows_command=_runs_default_cell
    ),
    "recurrent_cells": Table(
        arithmetic_runs_table("arithmetic/recurrent"), ("arithmetic/recurrent",)
    ),
    "success_rate_static": Table(
        arithmetic_runs_table("arithmetic/success-rate/static"),
        ("arithmetic/success-rate/static",),
    ),
    "success_rate_recurrent": Table(
        arithmetic_runs_table("arithmetic/success-rate/recurrent"),
        ("arithmetic/success-rate/recurrent",),
    ),
    "recurrent_nau_probe": Table(
        arithmetic_runs_table("arithmetic/nau-probe"), ("arithmetic/nau-probe",)
    ),
    "recurrent_nalu_trap": Table(
        trap_probe_table("arithmetic/nalu-trap"), ("arithmetic/nalu-trap",)
    ),
    "recurrent_nalu_probe": Table(
        arithmetic_runs_table("arithmetic/nalu-probe"), ("arithmetic/nalu-probe",)
    ),
    "mnist": Table(mnist_table, ("mnist/mnist_count", "mnist/mnist_add")),
    "mnist_summary": Table(
        mnist_summary_table,
        ("mnist/mnist_count", "mnist/mnist_add"),
        shows_command=_runs_mnist_default,
    ),
    "mnist_baselines": Table(
        mnist_baselines_table,
        ("mnist/mnist_count", "mnist/mnist_add"),
        shows_command=_runs_mnist_baseline,
    ),
    "mnist_product": Table(mnist_product_table, ("mnist/mnist_product",)),
    "mnist_thresholds": Table(mnist_thresholds_table, ("mnist/reference",)),
    "mnist_sample_noise": Table(mnist_sample_noise_table, ("mnist/sample-noise",)),
    "mnist_random_start_probes": Table(
        mnist_probe_table("mnist/random-start-probes-2"),
        ("mnist/random-start-probes-2",),
    ),
    "mnist_random_start_probes_3": Table(
        mnist_probe_table("mnist/random-start-probes-3"),
        ("mnist/random-start-probes-3",),
    ),
    "mnist_random_start_probes_4": Table(
        mnist_probe_table("mnist/random-start-probes-4"),
        ("mnist/random-start-probes-4",),
    ),
    "mnist_random_start_probes_5": Table(
        mnist_probe_table("mnist/random-start-probes-5"),
        ("mnist/random-start-probes-5",),
    ),
    "mnist_random_start_probes_6": Table(
        mnist_probe_table("mnist/random-start-probes-6"),
        ("mnist/random-start-probes-6",),
    ),
    "mnist_random_start_probes_7": Table(
        mnist_probe_table("mnist/random-start-probes-7"),
        ("mnist/random-start-probes-7",),
    ),
    "mnist_product_probes": Table(
        mnist_probe_table("mnist/product-probes", lengths=PRODUCT_LENGTHS),
        ("mnist/product-probes",),
    ),
    "bench_cells": Table(
        bench_cells_table(
            "bench/results/cells-tensorflow.json", "bench/results/cells-jax.json"
        ),
        ("bench/results/cells-tensorflow.json", "bench/results/cells-jax.json"),
    ),
    "bench_cells_one_thread": Table(
        bench_cells_table("bench/results/cells-tensorflow-1thread.json", by="units"),
        ("bench/results/cells-tensorflow-1thread.json",),
    ),
    "bench_mnist": Table(bench_mnist_table, ("bench/results/mnist-tensorflow.json",)),
    "vectorize_static": Table(
        vectorize_table("static_nau_add"), ("bench/results/vectorize.json",)
    ),
    "vectorize_recurrent": Table(
        vectorize_table("recurrent_nalu_mul"), ("bench/results/vectorize.json",)
    ),
    "nalm_pilot": Table(nalm_pilot_table, ("nalm/pilot",)),
    "nalm_benchmark": Table(
        nalm_benchmark_table("nalm/benchmark", "nalm/nmru-aids"),
        ("nalm/benchmark", "nalm/nmru-aids"),
        shows_command=_not_before_the_aids,
    ),
    "nalm_division_before_aids": Table(
        nalm_benchmark_table(
            "nalm/benchmark", only=(("div", "nmru"), ("div10", "nmru"))
        ),
        ("nalm/benchmark",),
    ),
    "nalm_division_aids": Table(nalm_division_aids_table, ("nalm/division-aids",)),
    "nalm_division_units": Table(
        nalm_benchmark_table(
            "nalm/division-units",
            only=tuple(("div", u) for u in ("realnpu", "npu", "nalu", "inalu")),
        ),
        ("nalm/division-units",),
    ),
    "nalm_division10_units": Table(
        nalm_benchmark_table(
            "nalm/division-units",
            only=tuple(("div10", u) for u in ("realnpu", "npu", "nalu", "inalu")),
        ),
        ("nalm/division-units",),
    ),
    "nalm_units_eps7": Table(
        nalm_benchmark_table("nalm/units-eps7"), ("nalm/units-eps7",)
    ),
    "nalm_addsub_eps8": Table(
        nalm_benchmark_table("nalm/eps8-addsub"), ("nalm/eps8-addsub",)
    ),
    "nalm_eps8": Table(
        nalm_epsilon_pooled_table(
            (
                ("nalm/benchmark-eps7", "nalm/benchmark"),
                ("nalm/units-eps7", "nalm/eps8-nac"),
                ("nalm/units-eps7", "nalm/eps8-units"),
            )
        ),
        (
            "nalm/benchmark-eps7",
            "nalm/benchmark",
            "nalm/units-eps7",
            "nalm/eps8-nac",
            "nalm/eps8-units",
        ),
    ),
    "nalm_epsilon_probe": Table(
        nalm_epsilon_table(
            (
                ("nalm/epsilon-probe/nac-eps7", "nalm/epsilon-probe/nac-eps8"),
                ("nalm/epsilon-probe/nmru-eps7", "nalm/epsilon-probe/nmru-eps8"),
            )
        ),
        ("nalm/epsilon-probe",),
    ),
    "nalm_nmru_before_fix": Table(
        nalm_benchmark_table("nalm/nmru-before-fix"), ("nalm/nmru-before-fix",)
    ),
    "nalm_division_probe": Table(
        nalm_benchmark_table("nalm/division-probe"), ("nalm/division-probe",)
    ),
    "nalm_snmu_probe": Table(
        nalm_benchmark_table("nalm/snmu-probe"), ("nalm/snmu-probe",)
    ),
    # In the README right below "recurrent", which lists the runs with the
    # prior; this block adds the runs without it.
    "state_memory": Table(
        state_memory_table(defaults_only=True),
        ("arithmetic/recurrent-no-memory",),
        shows_command=_runs_default_cell,
    ),
    "state_memory_cells": Table(
        state_memory_table(defaults_only=False),
        ("arithmetic/recurrent", "arithmetic/recurrent-no-memory"),
    ),
    "threshold_strength": Table(threshold_strength_table, ("arithmetic/thresholds",)),
}


if __name__ == "__main__":
    sys.exit(main())
