"""`experiments/tables.py`: headline tables rebuilt from committed summaries,
and `--check` failing when a document's table differs from them."""

import json

import pytest

from tests.support.scripts import load_script


@pytest.fixture()
def tables(tmp_path, monkeypatch):
    module = load_script("experiments/tables.py")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "RESULTS", tmp_path / "results")
    return module


def _summary(path, successes, raw, lengths=(10, 100)):
    path.mkdir(parents=True)
    op, cell = path.name.split("-")[:2]
    summary = {
        "task": op,
        "cell": cell,
        "seeds": list(range(len(successes))),
        "successes": successes,
        "successes_raw": raw,
        "success_ci_raw": [0.1, 0.9],
        "median_solved_step": 1200.0,
        "eval": [
            {"length": n, "successes": successes, "successes_raw": raw} for n in lengths
        ],
    }
    (path / "summary.json").write_text(json.dumps(summary))


def _rebuilt(tables, root, *names, document="README.md"):
    """`document` with an empty block for each table of `names`, after
    `tables.py` rebuilt it: its text."""
    path = root / document
    path.write_text(
        "".join(f"<!-- table: {n} -->\n<!-- end table: {n} -->\n" for n in names)
    )
    assert tables.main([]) == 0
    return path.read_text()


def _fake_results(tables, root):
    for op in ("add", "sub", "mul", "div", "square"):
        cell = tables._default_cell(op)
        _summary(
            root / "results" / "arithmetic" / "recurrent" / f"{op}-{cell}",
            [True, True, False],
            [True, False, False],
        )
    (root / "results" / "arithmetic" / "recurrent" / "command").write_text(
        "python experiments/success_rate.py --tasks recurrent\n"
    )


def test_a_table_is_rebuilt_between_its_markers_and_checked(tables, tmp_path):
    _fake_results(tables, tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(
        "intro\n<!-- table: recurrent -->\nstale\n<!-- end table: recurrent -->\nend\n"
    )
    assert tables.main(["--check"]) == 1
    assert tables.main([]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- table: recurrent -->\n| op |")
    assert "| add | NAU | 0–2 | **1/3** | [0.10, 0.90] | 2/3 | 1200 |" in text
    assert "python experiments/success_rate.py --tasks recurrent" in text
    # An op without a folder is named, not left out.
    assert "| sqrt | REALNPU | not yet rerun under this protocol |" in text
    assert text.endswith("<!-- end table: recurrent -->\nend\n")
    assert tables.main(["--check"]) == 0
    # A summary that changes makes the committed table stale.
    _summary_path = tmp_path / "results/arithmetic/recurrent/add-nau/summary.json"
    summary = json.loads(_summary_path.read_text())
    summary["successes_raw"] = [True, True, True]
    _summary_path.write_text(json.dumps(summary))
    assert tables.main(["--check"]) == 1


def test_missing_summaries_and_unknown_tables_exit_2(tables, tmp_path, capsys):
    (tmp_path / "README.md").write_text(
        "<!-- table: recurrent -->\n<!-- end table: recurrent -->\n"
    )
    assert tables.main(["--check"]) == 2
    assert "is missing" in capsys.readouterr().err
    (tmp_path / "README.md").write_text(
        "<!-- table: nope -->\n<!-- end table: nope -->\n"
    )
    assert tables.main(["--check"]) == 2
    assert "unknown table 'nope'" in capsys.readouterr().err


def test_the_threshold_table_reads_the_script_s_summary(tables, tmp_path):
    strength = load_script("experiments/threshold_strength.py")
    out = tmp_path / "results" / "arithmetic" / "thresholds"
    assert (
        strength.main(["--out", str(out), "--problems", "1", "--sequences", "20"]) == 0
    )
    assert (
        (out / "command")
        .read_text()
        .startswith("python experiments/threshold_strength.py --out ")
    )
    (tmp_path / "doc.md").write_text(
        "<!-- table: threshold_strength -->\n<!-- end table: threshold_strength -->\n"
    )
    monkeypatched = [tmp_path / "doc.md"]
    tables.documents = lambda: monkeypatched
    assert tables.main([]) == 0
    text = (tmp_path / "doc.md").read_text()
    assert "| `sub` |" in text and "threshold / variance, L=1000" in text
    assert tables.main(["--check"]) == 0


def test_the_threshold_script_refuses_bad_sizes(capsys):
    strength = load_script("experiments/threshold_strength.py")
    assert strength.main(["--out", "unused", "--problems", "0"]) == 2
    assert capsys.readouterr().out.count("\n") == 1


def test_the_prior_s_ablation_sits_beside_the_recipe_s_rows(tables, tmp_path):
    _fake_results(tables, tmp_path)
    ablation = tmp_path / "results" / "arithmetic" / "recurrent-no-memory"
    _summary(ablation / "add-nau", [False, False, True], [False, False, False])
    (ablation / "command").write_text("python train.py --no-state-memory\n")
    text = _rebuilt(tables, tmp_path, "state_memory")
    assert "| add | NAU | 0–2 | 1/3 | 2/3 | 0/3 | 1/3 |" in text
    assert "python train.py --no-state-memory" in text
    # A cell that is not its op's default is left to the table of every cell.
    _summary(
        tmp_path / "results" / "arithmetic" / "recurrent" / "add-nac",
        [True, True, True],
        [False, False, False],
    )
    _summary(ablation / "add-nac", [True, False, False], [False, False, False])
    (ablation / "command").write_text(
        "python train.py --task add --no-state-memory --out runs/add-nau-no-memory\n"
        "python train.py --task add --cell nac --no-state-memory "
        "--out runs/add-nac-no-memory\n"
    )
    text = _rebuilt(tables, tmp_path, "state_memory", "state_memory_cells")
    nac_row = "| add | NAC | 0–2 | 0/3 | 3/3 | 0/3 | 1/3 |"
    assert text.count(nac_row) == 1
    assert text.index(nac_row) > text.index("<!-- table: state_memory_cells -->")
    assert text.count("| add | NAU | 0–2 | 1/3 | 2/3 | 0/3 | 1/3 |") == 2
    # A run of an earlier recipe, kept under a longer name, is not the
    # default's row, nor are its commands in the default's block.
    for folder in ("recurrent", "recurrent-no-memory"):
        _summary(
            tmp_path / "results" / "arithmetic" / folder / "add-nau-old",
            [False, False, False],
            [False, False, False],
        )
    with (ablation / "command").open("a") as command:
        command.write("python train.py --task add --out runs/add-nau-old-no-memory\n")
    text = _rebuilt(tables, tmp_path, "state_memory", "state_memory_cells")
    old_row = "| add | NAU | 0–2 | 0/3 | 0/3 | 0/3 | 0/3 |"
    assert text.count(old_row) == 1
    assert text.index(old_row) > text.index("<!-- table: state_memory_cells -->")
    assert text.count("--out runs/add-nau-old-no-memory") == 1
    # Each block lists the commands of the rows it shows.
    nac_command = "--out runs/add-nac-no-memory"
    assert text.count(nac_command) == 1
    assert text.index(nac_command) > text.index("<!-- table: state_memory_cells -->")
    assert text.count("--out runs/add-nau-no-memory") == 2


def test_every_recurrent_sweep_gets_a_row_with_its_recipe(tables, tmp_path):
    probe = tmp_path / "results" / "arithmetic" / "nau-probe"
    for name, sparsity_stop, epsilon in (("add-a", None, None), ("add-b", 0.8, 1e-8)):
        _summary(probe / name, [True, True, False], [True, False, False])
        summary = json.loads((probe / name / "summary.json").read_text())
        summary.update(task="add", cell="nau")
        (probe / name / "summary.json").write_text(json.dumps(summary))
        seed = probe / name / "seed_0"
        seed.mkdir()
        config = {
            "optim": {"learning_rate": 0.01, "lr_decay": True, "steps": 30000,
                      "adam_epsilon": epsilon},
            "regularization": {"sparsity": 1.0, "sparsity_start": 0.3,
                               "sparsity_end": 0.6, "sparsity_stop": sparsity_stop},
        }  # fmt: skip
        (seed / "results.json").write_text(json.dumps({"run_config": config}))
    (probe / "command").write_text("python train.py --task add --cell nau\n")
    text = _rebuilt(tables, tmp_path, "recurrent_nau_probe")
    row = "| add | NAU | 0.01, cosine to 1% | 30000 | 1 from 30%, full at 60%"
    assert row + " | 0–2 | 1/3 | 2/3 |" in text
    # Adam's epsilon is named where a run set it.
    row = row.replace("1%", "1%, Adam ε 1e-8")
    assert row + ", off at 80% | 0–2 | 1/3 | 2/3 |" in text
    # A sweep without the state-memory prior is marked, in a column of its own.
    no_memory = probe / "add-b" / "seed_0" / "results.json"
    record = json.loads(no_memory.read_text())
    record["run_config"]["model"] = {"state_memory": False}
    no_memory.write_text(json.dumps(record))
    assert tables.main([]) == 0
    text = (tmp_path / "README.md").read_text()
    assert "| op | cell | state block | rate |" in text
    assert "| add | NAU | random | 0.01, cosine to 1%, Adam ε 1e-8 |" in text
    assert "| add | NAU | memory | 0.01, cosine to 1% | 30000 |" in text
    # A sweep without any seed's results cannot say its recipe.
    (probe / "add-c").mkdir()
    (probe / "add-c" / "summary.json").write_text(json.dumps(summary))
    assert tables.main(["--check"]) == 2


def test_the_nalm_pilot_table_reads_the_benchmark_s_rows(tables, tmp_path):
    pilot = tmp_path / "results" / "nalm" / "pilot"
    pilot.mkdir(parents=True)
    row = {"op": "mul", "unit": "nmu", "label": "[1,2] -> [2,6]", "seeds": 2,
           "successes": 1, "success_ci": [0.1, 0.9], "median_solved_step": 3000.0,
           "train_seconds": [100.0, 120.0], "published": 25}  # fmt: skip
    (pilot / "nalm_benchmark.json").write_text(
        json.dumps({"protocol": {}, "rows": [row]})
    )
    (pilot / "command").write_text("python experiments/nalm_benchmark.py\n")
    text = _rebuilt(tables, tmp_path, "nalm_pilot")
    assert (
        "| mul | NMU | [1,2] -> [2,6] | 1/2 | [0.10, 0.90] | 25/25 | 3000 | 120 |"
        in text
    )
    assert "(225 runs) is then about 8 core-hours" in text


def test_the_nalm_benchmark_table_puts_ranges_in_rows(tables, tmp_path):
    folder = tmp_path / "results" / "nalm" / "benchmark"
    folder.mkdir(parents=True)

    def row(op, unit, key, successes, published=None, stopped=0):
        return {"op": op, "unit": unit, "range": key, "label": f"[{key}]",
                "seeds": 25, "successes": successes, "published": published,
                "stopped": stopped, "train_seconds": [2.0] * 25}  # fmt: skip

    record = {
        "protocol": {"seeds": 25},
        "rows": [
            row("add", "nau", "1_2", 25, 25),
            # A seed stopped by a NaN loss is one of the failures.
            row("add", "nau", "m2_m1", 24, stopped=1),
            row("mul", "nmu", "1_2", 20, 25),
        ],  # fmt: skip
        "pooled": [
            {
                "op": "add",
                "unit": "nau",
                "successes": 49,
                "seeds": 50,
                "success_ci": [0.9, 1.0],
            },
            {
                "op": "mul",
                "unit": "nmu",
                "successes": 20,
                "seeds": 25,
                "success_ci": [0.6, 0.9],
            },
        ],  # fmt: skip
    }
    (folder / "nalm_benchmark.json").write_text(json.dumps(record))
    (folder / "command").write_text("python experiments/nalm_benchmark.py\n")
    # A later run of one (op, unit) replaces its column, in its place.
    rerun = folder.parent / "nmru-aids"
    rerun.mkdir()
    later = {
        "protocol": {"seeds": 25},
        "rows": [row("mul", "nmu", "1_2", 22)],
        "pooled": [
            {
                "op": "mul",
                "unit": "nmu",
                "successes": 22,
                "seeds": 25,
                "success_ci": [0.7, 0.95],
            }
        ],
    }
    (rerun / "nalm_benchmark.json").write_text(json.dumps(later))
    (rerun / "command").write_text("python experiments/nalm_benchmark.py --later\n")
    text = _rebuilt(tables, tmp_path, "nalm_benchmark")
    assert "| train -> extrapolation | + NAU | × NMU |" in text
    assert "| [1_2] | 25/25 (pub. 25/25) | 22/25 |" in text
    assert "| [m2_m1] | 24/25, 1 NaN | not run |" in text
    assert "| pooled | 49/50 [90%, 100%] | 22/25 [70%, 95%] |" in text
    assert "--later" in text
    only = tables.nalm_benchmark_table("nalm/benchmark", only=(("mul", "nmu"),))
    text = only(tmp_path / "results")
    assert "| train -> extrapolation | × NMU |" in text
    assert "| [1_2] | 20/25 (pub. 25/25) |" in text


def test_the_epsilon_table_puts_each_run_beside_its_rerun(tables, tmp_path):
    def record(folder, first_seed, successes):
        folder.mkdir(parents=True)
        rows = [
            {"op": "add", "unit": "nac", "range": key, "label": f"[{key}]",
             "seeds": 25, "successes": n}
            for key, n in zip(("1_2", "10_20"), successes, strict=True)
        ]  # fmt: skip
        pooled = [{"op": "add", "unit": "nac", "seeds": 50,
                   "successes": sum(successes)}]  # fmt: skip
        protocol = {"first_seed": first_seed}
        (folder / "nalm_benchmark.json").write_text(
            json.dumps({"protocol": protocol, "rows": rows, "pooled": pooled})
        )

    nalm = tmp_path / "results" / "nalm"
    record(nalm / "before", 0, (0, 25))
    # A unit the rerun left out stays out of the table.
    before = json.loads((nalm / "before" / "nalm_benchmark.json").read_text())
    before["rows"].append(dict(before["rows"][0], unit="nau"))
    before["pooled"].append(dict(before["pooled"][0], unit="nau"))
    (nalm / "before" / "nalm_benchmark.json").write_text(json.dumps(before))
    record(nalm / "after", 0, (25, 25))
    (nalm / "after" / "command").write_text("python experiments/nalm_benchmark.py\n")
    build = tables.nalm_epsilon_table((("nalm/before", "nalm/after"),))
    text = build(tmp_path / "results")
    assert "| train -> extrapolation | + NAC, ε 1e-7 | + NAC, ε 1e-8 |\n" in text
    assert "| [1_2] | 0/25 | 25/25 |" in text
    assert "| pooled | 25/50 | 50/50 |" in text
    # Runs on different seeds are not set side by side.
    record(nalm / "other", 1000, (25, 25))
    with pytest.raises(tables.MissingResults, match="different seeds"):
        tables.nalm_epsilon_table((("nalm/before", "nalm/other"),))(nalm.parent)


def test_the_pooled_epsilon_table_lists_each_rerun_and_its_changed_ranges(
    tables, tmp_path
):
    def record(folder, first_seed, counts):
        folder.mkdir(parents=True)
        rows = [
            {"op": op, "unit": unit, "range": key, "label": f"[{key}] -> [x]",
             "seeds": 25, "successes": n}
            for (op, unit), per_range in counts.items()
            for key, n in zip(("1_2", "10_20"), per_range, strict=True)
        ]  # fmt: skip
        pooled = [
            {"op": op, "unit": unit, "seeds": 50, "successes": sum(per_range)}
            for (op, unit), per_range in counts.items()
        ]
        (folder / "nalm_benchmark.json").write_text(
            json.dumps(
                {"protocol": {"first_seed": first_seed}, "rows": rows, "pooled": pooled}
            )  # fmt: skip
        )

    nalm = tmp_path / "results" / "nalm"
    record(nalm / "before", 0, {("add", "nac"): (0, 25), ("mul", "nmu"): (20, 25)})
    record(nalm / "after", 0, {("add", "nac"): (25, 25), ("div", "nmru"): (25, 25)})
    build = tables.nalm_epsilon_pooled_table((("nalm/before", "nalm/after"),))
    text = build(tmp_path / "results")
    # Only what was rerun, with the range whose count changed: not what
    # the earlier run did not hold, nor what the later did not rerun.
    assert "| + NAC | 25/50 | 50/50 | [1_2] 0 → 25 |" in text
    assert "NMU" not in text and "NMRU" not in text
    record(nalm / "same", 0, {("mul", "nmu"): (20, 25)})
    text = tables.nalm_epsilon_pooled_table((("nalm/before", "nalm/same"),))(
        tmp_path / "results"
    )
    assert "| × NMU | 45/50 | 45/50 | none |" in text
    record(nalm / "other", 1000, {("add", "nac"): (25, 25)})
    with pytest.raises(tables.MissingResults, match="different seeds"):
        tables.nalm_epsilon_pooled_table((("nalm/before", "nalm/other"),))(
            tmp_path / "results"
        )
    # A range the earlier run did not hold is named, not a KeyError.
    record(nalm / "wider", 0, {("add", "nac"): (25, 25)})
    wider = json.loads((nalm / "wider" / "nalm_benchmark.json").read_text())
    wider["rows"][1]["range"] = "m2_2"
    (nalm / "wider" / "nalm_benchmark.json").write_text(json.dumps(wider))
    with pytest.raises(tables.MissingResults, match="no add:nac on m2_2"):
        tables.nalm_epsilon_pooled_table((("nalm/before", "nalm/wider"),))(
            tmp_path / "results"
        )


def test_the_division_aids_table_gives_each_variant_a_row(tables, tmp_path):
    root = tmp_path / "results" / "nalm" / "division-aids"
    for k, (_, folder, _) in enumerate(tables.DIVISION_AIDS):
        (root / folder).mkdir(parents=True)
        rows = [
            {
                "op": "div10",
                "unit": "nmru",
                "range": key,
                "label": f"[{key}]",
                "seeds": 25,
                "successes": 10 + k + shift,
            }  # fmt: skip
            for key, shift in (("m20_m10", 0), ("m1.2_m1.1", 1))
        ]
        pooled = {"op": "div10", "unit": "nmru", "seeds": 50,
                  "successes": 21 + 2 * k, "success_ci": [0.3, 0.6]}  # fmt: skip
        record = {"rows": rows, "pooled": [pooled]}
        (root / folder / "nalm_benchmark.json").write_text(json.dumps(record))
    text = tables.nalm_division_aids_table(tmp_path / "results")
    assert "| NMRU | flags over the recipe | [m20_m10] | [m1.2_m1.1] | pooled |" in text
    assert "| neither (the paper's NMRU) | `--pair-pull 0 --weight-snap 0` |" in text
    assert "| both (the recipe) | none | 13/25 | 14/25 | 27/50 [30%, 60%] |" in text


def test_the_mnist_probe_table_lists_each_run_with_its_flags(tables, tmp_path):
    folder = tmp_path / "results" / "mnist" / "probes"

    def probe(name, task, flags, mses, snap=None, cell="nac"):
        (folder / name).mkdir(parents=True)
        config = {
            "optim": {
                "head_learning_rate": flags.get("hlr"),
                "learning_rate": flags.get("lr", 1e-3),
            },
            "model": {"encoder": flags.get("encoder", "classes")},
            "regularization": {
                "class_balance": flags.get("bal", 0.0),
                "class_confidence": 0.0,
                "weight_snap": 0.5 if snap is not None else 0.0,
            },
        }
        result = {
            "task": task,
            "cell": cell,
            "seed": 100,
            "run_config": config,
            "eval": [
                {"length": n, "mse": m, "success_threshold_mse": 0.1 * n}
                for n, m in zip((1, 10), mses, strict=True)
            ],
        }
        if snap is not None:
            result["weight_snap"] = {"snapped": [{"max_change": c} for c in snap]}
        (folder / name / "results.json").write_text(json.dumps(result))

    probe("a", "mnist_count", {"hlr": 0.1, "bal": 10.0}, (0.002, 0.5), (0.03, 0.1))
    probe("b", "mnist_add", {}, (0.5, 2.0), cell="nau")
    probe("d", "mnist_add", {"lr": 3e-3, "encoder": "linear"}, (0.5, 2.0))
    (folder / "command").write_text("python train.py --task mnist_count\n")
    text = tables.mnist_probe_table("mnist/probes")(tmp_path / "results")
    header = "| task | head | seed | flags | MSE / bar, L=1 | MSE / bar, L=10 |"
    assert header in text
    assert (
        "| `mnist_count` | nac | 100 | `--head-learning-rate 0.1 --class-balance 10 "
        "--weight-snap 0.5` | 0.002 / 0.1 | 0.5 / 1 | 0.10 |"
    ) in text
    # Flags left at 0 or unset are not listed; no snap, no largest change.
    assert "| `mnist_add` | nau | 100 | the recipe's | 0.5 / 0.1 | 2 / 1 | - |" in text
    # The encoder is named when linear, the rate when it is not the recipe's.
    assert (
        "| `mnist_add` | nac | 100 | `--encoder linear --learning-rate 0.003` | "
        "0.5 / 0.1 | 2 / 1 | - |"
    ) in text
    # A reference has no bar; its switches are named.
    (folder / "c").mkdir()
    reference = {
        "task": "mnist_count",
        "cell": "nac",
        "seed": 101,
        "run_config": {
            "optim": {},
            "regularization": {},
            "data": {"curriculum": False},
            "model": {"solved_head": True},
        },
        "eval": [{"length": 1, "mse": 0.001}, {"length": 10, "mse": 0.01}],
    }
    (folder / "c" / "results.json").write_text(json.dumps(reference))
    text = tables.mnist_probe_table("mnist/probes")(tmp_path / "results")
    assert (
        "| `mnist_count` | nac | 101 | `--no-curriculum --solved-head` | 0.001 / - "
        "| 0.01 / - | - |"
    ) in text
    # Only the lengths asked for.
    text = tables.mnist_probe_table("mnist/probes", lengths=(10,))(tmp_path / "results")
    assert "| task | head | seed | flags | MSE / bar, L=10 | largest snap |" in text
    assert "| 0.5 / 1 | 0.10 |" in text
    with pytest.raises(tables.MissingResults, match="missing"):
        tables.mnist_probe_table("mnist/none")(tmp_path / "results")


def test_the_mnist_table_counts_success_per_length_raw_and_hardened(tables, tmp_path):
    def summary(task, folder, raw, hardened, first_seed=500):
        folder = tmp_path / "results" / "mnist" / task / folder
        folder.mkdir(parents=True)
        entries = [
            {"length": n, "successes_raw": r, "successes": h}
            for n, r, h in zip((1, 10, 100, 1000), raw, hardened, strict=True)
        ]
        seeds = list(range(first_seed, first_seed + 10))
        record = {"seeds": seeds, "eval": entries}
        (folder / "summary.json").write_text(json.dumps(record))

    ten = [True] * 10
    nine = [True] * 9 + [False]
    none = [False] * 10
    summary(
        "mnist_count", "nac-530", (ten, nine, nine, ten), (ten, ten, nine, ten), 530
    )
    summary("mnist_count", "nac", (none,) * 4, (none,) * 4)
    summary("mnist_add", "nau-530", (nine,) * 4, (ten,) * 4, first_seed=530)
    summary("mnist_add", "nau-520", (ten,) * 4, (ten,) * 4, first_seed=520)
    summary("mnist_add", "nau-no-rate-stop", (none,) * 4, (ten,) * 4, 510)
    summary("mnist_add", "nalu-530", (none,) * 4, (none,) * 4, first_seed=530)
    summary("mnist_add", "nalu", (nine, none, nine, none), (nine,) * 4)
    summary("mnist_add", "nac", (none,) * 4, (nine,) * 4)
    summary("mnist_add", "nalu-before-rate-stop", (none,) * 4, (none,) * 4)
    for task in ("mnist_count", "mnist_add"):
        for _, cell in tables.MNIST_BASELINES:
            summary(task, f"{cell}-530", (ten, ten, none, none), (ten,) * 4, 530)
    text = tables.mnist_table(tmp_path / "results", ("mnist_count", "mnist_add"))
    assert (
        "| NAC head (the default cell) | 530–539 | 10/10, "
        "9/10, 9/10, 10/10 | 10/10, 10/10, 9/10, 10/10 |"
    ) in text
    # Each task's default head first, each row from its own folder.
    rows = [line.split(" | ")[:3] for line in text.splitlines() if "head" in line]
    assert rows[1:] == [
        ["| NAC head, before the rate stop", "500–509", "0/10, 0/10, 0/10, 0/10"],
        ["| NAU head (the default cell)", "530–539", "9/10, 9/10, 9/10, 9/10"],
        [
            "| NAU head, at the encoder's rate after the snap",
            "520–529",
            "10/10, 10/10, 10/10, 10/10",
        ],
        [
            "| NAU head, its own rate to the end (`--head-rate-stop 1`)",
            "510–519",
            "0/10, 0/10, 0/10, 0/10",
        ],
        ["| NALU head", "530–539", "0/10, 0/10, 0/10, 0/10"],
        [
            "| NALU head, at the encoder's rate after the snap",
            "500–509",
            "9/10, 0/10, 9/10, 0/10",
        ],
        ["| NAC head, before the rate stop", "500–509", "0/10, 0/10, 0/10, 0/10"],
        ["| NALU head, before the rate stop", "500–509", "0/10, 0/10, 0/10, 0/10"],
    ]
    # Every baseline after the heads, in both tasks.
    baseline = "530–539 | 10/10, 10/10, 0/10, 0/10 | 10/10, 10/10, 10/10, 10/10 |"
    for name, _ in tables.MNIST_BASELINES:
        assert text.count(f"| {name} baseline | {baseline}") == 2
    published = "| Madsen & Johansen's NAU (their paper) | 0–9 |  | 7, 8, 7, 8 of 10 |"
    assert published in text
    text = tables.mnist_summary_table(
        tmp_path / "results", ("mnist_count", "mnist_add")
    )
    assert (
        "| `mnist_add`, NAU | 530–539 | 9/10, 9/10, 9/10, 9/10 | 10/10, 10/10, "
        "10/10, 10/10 | 7, 8, 7, 8 of 10 |"
    ) in text
    count = "| `mnist_count`, NAC | 530–539 |"
    assert count in text and "not published |" in text
    # By default, the tasks judged under the protocol.
    assert tables.mnist_summary_table(tmp_path / "results") == text


def test_held_out_text_counts_each_length_and_every_length_at_once(tables):
    passes = {1: [True, True, False], 10: [True, False, True], 100: [True] * 3}
    text = tables._held_out_text(passes, [1, 10, 100])
    assert text == "L=1: 2/3, L=10: 2/3, L=100: 3/3; all 3: 1/3"
    assert tables._held_out_text({}, [1]) == ""


def test_the_mnist_summary_shows_the_commands_of_the_default_blocks(tables):
    shows = tables._runs_mnist_default
    assert shows(
        "python experiments/mnist_judge.py runs/mnist_judged/mnist_add-nau-530"
    )
    assert shows(
        "python experiments/mnist_judge.py runs/mnist_judged/mnist_count-nac-530"
    )
    assert not shows(
        "python experiments/mnist_judge.py runs/mnist_judged/mnist_add-nau-520"
    )
    assert not shows(
        "python experiments/mnist_table.py --tasks mnist_count --rows nac --seeds 10"
    )
    assert not shows("python experiments/mnist_table.py --tasks mnist_add --rows nac")
    assert not shows("# the NAU head from a random start, mnist_add-nau-530")


def test_the_sample_noise_table_has_a_row_per_block_of_models(tables, tmp_path):
    folder = tmp_path / "results" / "mnist" / "sample-noise"
    folder.mkdir(parents=True)

    def run(path, seed, tested, whole):
        return {"run": path, "seed": seed, "mse_tested": tested,
                "mse_whole_test_set": whole, "sample_mse_std": 0.08,
                "bias_per_image": -0.01}  # fmt: skip

    runs = [
        run("runs/ref/mnist_add-linear/seed_1000/seed_1000", 1000, 0.8, 0.9),
        run("runs/ref/mnist_add-linear/seed_1001/seed_1001", 1001, 1.2, 1.1),
        run("runs/judged/mnist_add-nau-530/seed_530", 530, 1.0, 1.0),
    ]
    record = {"sample": 1000, "draws": 10, "test_images": 10000, "runs": runs}
    (folder / "summary.json").write_text(json.dumps(record))
    text = tables.mnist_sample_noise_table(tmp_path / "results")
    assert (
        "| `mnist_add-linear` | 1000–1001 | 0.80 to 1.20 (mean 1.00) | 0.90 to "
        "1.10 (mean 1.00) | 0.080 to 0.080 (mean 0.080) | -0.010 to -0.010 "
        "(mean -0.010) |"
    ) in text
    assert "| `mnist_add-nau-530` | 530 |" in text


def test_the_baseline_table_gives_each_task_its_paper_s_metric(tables, tmp_path):
    def summary(task, folder, key, values):
        folder = tmp_path / "results" / "mnist" / task / folder
        folder.mkdir(parents=True)
        entries = [
            {"length": n, key: v}
            for n, v in zip((1, 10, 100, 1000), values, strict=True)
        ]
        record = {"seeds": [530, 531], "eval": entries}
        (folder / "summary.json").write_text(json.dumps(record))

    summary("mnist_count", "nac-530", "median_accuracy", (0.99, 0.9, 0.35, 0.0))
    summary("mnist_add", "nau-530", "median_mae", (0.3, 0.8, 2.5, 8.0))
    for _, cell in tables.MNIST_BASELINES:
        summary("mnist_count", f"{cell}-530", "median_accuracy", (1, 0.9, 0, 0))
        summary("mnist_add", f"{cell}-530", "median_mae", (0.4, 0.9, 300, 4000))
    text = tables.mnist_baselines_table(tmp_path / "results")
    count, add = text.split("\n\n")
    assert "| `mnist_count`, median accuracy | seeds | L=1 |" in count
    assert "| NAC head (the default cell) | 530–531 | 0.990 | 0.900 | 0.350 |" in count
    assert "| LSTM baseline | 530–531 | 1.000 | 0.900 | 0.000 | 0.000 |" in count
    assert "| `mnist_add`, median MAE |" in add
    name, _ = tables.MNIST_BASELINES[-1]
    assert f"| {name} baseline | 530–531 | 0.40 | 0.90 | 300.00 | 4000.00 |" in add
    assert len(add.splitlines()) == 2 + 1 + len(tables.MNIST_BASELINES)


def test_the_baseline_table_shows_the_commands_of_its_rows(tables):
    shows = tables._runs_mnist_baseline
    assert shows(
        "python experiments/mnist_judge.py runs/mnist_judged/mnist_add-lstm-530"
    )
    assert shows(
        "python experiments/mnist_judge.py runs/mnist_judged/mnist_count-nac-530"
    )
    assert not shows(
        "python experiments/mnist_judge.py runs/mnist_judged/mnist_add-nalu"
    )
    assert not shows("# the GRU baseline, seeds 530 (mnist_add-gru-530)")


def test_seeds_are_shown_as_a_block_a_single_seed_or_a_list(tables):
    assert tables._seeds({"seeds": [530, 531, 532]}) == "530–532"
    assert tables._seeds({"seeds": [530]}) == "530"
    assert tables._seeds({"seeds": [530, 532]}) == "530, 532"
    blocks = {"seeds": [*range(500, 510), 600, *range(700, 720)]}
    assert tables._seeds(blocks) == "500–509, 600, 700–719"


def test_a_later_block_of_seeds_pools_into_its_sweep_s_row(tables, tmp_path):
    _fake_results(tables, tmp_path)
    recurrent = tmp_path / "results" / "arithmetic" / "recurrent"
    summary = json.loads((recurrent / "mul-nalu" / "summary.json").read_text())
    summary.update(
        seeds=[0, 1, 2, 10, 11],
        successes=[True, True, False, True, True],
        successes_raw=[True, False, False, True, False],
    )
    (recurrent / "mul-nalu" / "summary.json").write_text(json.dumps(summary))
    (recurrent / "command").write_text(
        "python train.py --task mul --seed 0 --seeds 3 --out runs/mul-nalu\n"
        "python train.py --task mul --seed 10 --seeds 2 --out runs/mul-nalu-10\n"
        "python train.py --task mul --steps 5 --out runs/mul-nalu-short\n"
    )
    ablation = tmp_path / "results" / "arithmetic" / "recurrent-no-memory"
    _summary(ablation / "mul-nalu", [False, True, False], [False, True, False])
    (ablation / "command").write_text("python train.py --no-state-memory\n")
    text = _rebuilt(tables, tmp_path, "recurrent", "state_memory")
    assert "| mul | NALU | 0–2, 10–11 | **2/5** |" in text
    assert "--out runs/mul-nalu-10" in text
    assert "--out runs/mul-nalu-short" not in text
    # The ablation is compared on its own seeds only.
    assert "| mul | NALU | 0–2 | 1/3 | 2/3 | 1/3 | 1/3 |" in text
    summary["seeds"] = [5, 6, 7, 10, 11]
    (recurrent / "mul-nalu" / "summary.json").write_text(json.dumps(summary))
    assert tables.main(["--check"]) == 2


def test_the_trap_table_names_each_arm_s_change_and_each_seed_s_verdict(
    tables, tmp_path
):
    probe = tmp_path / "results" / "arithmetic" / "nalu-trap"
    arms = {
        "recipe": ({}, [(False, False, 0.38), (False, False, 0.36)]),
        "batch-64": ({"batch_size": 64}, [(True, True, 2e-6), (False, False, 0.5)]),
        "units-3": ({"units": 3}, [(False, False, 0.4), (False, True, 1e-5)]),
    }
    for arm, (change, verdicts) in arms.items():
        for seed, (raw, hardened, mse) in zip((711, 715), verdicts, strict=True):
            config = {
                "data": {"train_length": 10},
                "model": {"units": change.get("units", 2)},
                "optim": {"batch_size": change.get("batch_size", 512),
                          "learning_rate": 0.1},
                "regularization": {"sparsity": 5.0},
                "evaluation": {"eval_lengths": [10, 100, 1000]},
                "run": {"seed": seed},
            }  # fmt: skip
            record = {
                "run_config": config,
                "success_raw": raw,
                "success": hardened,
                "eval": [{"length": 10, "mse_raw": mse}],
            }
            folder = probe / arm / f"seed_{seed}"
            folder.mkdir(parents=True)
            (folder / "results.json").write_text(json.dumps(record))
    (probe / "command").write_text("python train.py --task mul --seed 711\n")
    text = _rebuilt(tables, tmp_path, "recurrent_nalu_trap")
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    assert lines[1] == "| none (the recipe) | failed, 0.38 | failed, 0.36 |"
    assert "| --batch-size 64 | solved, 2e-06 | failed, 0.5 |" in lines
    assert "| --units 3 | failed, 0.4 | failed (hardened: solved), 1e-05 |" in lines
    assert "python train.py --task mul --seed 711" in text


def test_a_changed_field_is_shown_as_the_flag_that_sets_it(tables):
    base = {
        "data": {"curriculum": True},
        "model": {},
        "optim": {},
        "regularization": {},
        "evaluation": {"eval_lengths": [10, 100]},
    }
    arm = {"data": {"curriculum": False}, "model": {"units": 3},
           "optim": {}, "regularization": {},
           "evaluation": {"eval_lengths": [10, 100, 1000]}}  # fmt: skip
    assert tables._changed_flags(arm, base) == (
        "--no-curriculum --units 3 --eval-lengths 10,100,1000"
    )
    assert tables._changed_flags(base, base) == "none (the recipe)"


def test_the_cell_bench_table_gives_each_setting_a_row_of_ratios(tables, tmp_path):
    def record(name, backend, jit, command):
        rows = []
        for length, lstm in ((100, 12.0), (1000, 120.0)):
            for cell, ratio in (("nac", 0.5), ("nalu", 0.8), ("lstm", 1.0)):
                rows.append(
                    {"backend": backend, "jit": jit, "units": 64, "length": length,
                     "cell": cell, "median_ms": lstm * ratio, "ratio_to_lstm": ratio}
                )  # fmt: skip
        path = tmp_path / "bench" / "results" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"command": command, "rows": rows}))

    record("tf.json", "tensorflow", True, "python bench/cells.py --jit on")
    record("jax.json", "jax", True, "KERAS_BACKEND=jax python bench/cells.py")
    sources = ("bench/results/tf.json", "bench/results/jax.json")
    text = tables.bench_cells_table(*sources)(tmp_path / "results")
    assert text.splitlines() == [
        "| backend | length | LSTM ms | nac | nalu |",
        "|---|---|---|---|---|",
        "| TensorFlow, XLA | 100 | 12.0 | 0.50× | 0.80× |",
        "| TensorFlow, XLA | 1000 | 120.0 | 0.50× | 0.80× |",
        "| JAX | 100 | 12.0 | 0.50× | 0.80× |",
        "| JAX | 1000 | 120.0 | 0.50× | 0.80× |",
    ]
    by_units = tables.bench_cells_table(sources[1], by="units")(tmp_path / "results")
    assert "| 64 | 100 | 12.0 | 0.50× | 0.80× |" in by_units
    # Each record's command is listed under the table.
    assert tables.commands(sources) == [
        "python bench/cells.py --jit on",
        "KERAS_BACKEND=jax python bench/cells.py",
    ]


def test_the_mnist_bench_table_reads_every_measurement(tables, tmp_path):
    evaluation = [
        {"length": n, "sequences": 1000, "encode_once_seconds": s,
         "encode_seconds": 0.3, "naive_sequences_timed": 20,
         "naive_seconds_scaled": naive, "max_abs_difference": 0.0}
        for n, s, naive in ((100, 0.44, 7.9), (1000, 0.43, 266.0))
    ]  # fmt: skip
    record = {
        "command": "python bench/mnist.py --time-to-target",
        "training": {"batch_size": 64, "length": 10, "images_per_second": 12513.6,
                     "peak_rss_mib": 979.0},
        "evaluation": evaluation,
        "time_to_target": [
            {"steps": 250, "train_seconds": 10.9, "relative_error_1000": 0.0057,
             "target_relative_error": 0.005, "reached": False},
        ],
    }  # fmt: skip
    path = tmp_path / "bench" / "results" / "mnist-tensorflow.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    text = tables.bench_mnist_table(tmp_path / "results")
    assert "| 12,500 images/s |" in text
    assert "| 0.96 GiB RSS |" in text
    assert "length 100 / 1000 | 0.44 s / 0.43 s (0.30 s of it encoding" in text
    assert "scaled to 1000) | 7.9 s / 266 s |" in text
    assert "length 1000 (target 0.5%) | 0.57% in 11 s (not reached) |" in text
    assert "evaluate model.keras" not in text  # no process was timed
