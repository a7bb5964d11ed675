"""`experiments/nalm_benchmark.py`: the single-layer NALM benchmark."""

import json

import keras
import pytest

from tests.support.scripts import load_script


@pytest.fixture
def bench():
    return load_script("experiments/nalm_benchmark.py")


def _options(bench, *argv):
    options = bench.build_parser().parse_args(list(argv))
    bench.check_options(options, bench.build_parser())
    return options


def test_ranges_are_the_benchmarks_nine(bench):
    # Mistry et al.'s single_layer_benchmark.sh, in its order.
    train = [(-20, -10), (-2, -1), (-1.2, -1.1), (-0.2, -0.1), (-2, 2),
             (0.1, 0.2), (1, 2), (1.1, 1.2), (10, 20)]  # fmt: skip
    test = [[(-40, -20)], [(-6, -2)], [(-6.1, -1.2)], [(-2, -0.2)],
            [(-6, -2), (2, 6)], [(0.2, 2)], [(2, 6)], [(1.2, 6)],
            [(20, 40)]]  # fmt: skip
    assert [r.train for r in bench.RANGES] == train
    assert [list(r.extrapolation) for r in bench.RANGES] == test
    mirrored = bench.RANGES[bench.RANGE_KEYS.index("m2_2")]
    assert mirrored.flags() == [
        "--train-range=-2,2",
        "--extrapolation-range=-6,-2",
        "--extrapolation-range=2,6",
    ]
    assert mirrored.label == "[-2,2] -> [-6,-2] u [2,6]"
    assert bench.EPSILON == 1e-5 and bench.SEEDS == 25


def test_each_unit_runs_the_ops_it_computes(bench):
    options = _options(bench, "--ops", "add,mul", "--units", "default,nau,nmu,nalu")
    chosen = {(op, unit) for op, unit, _ in bench.runs(options)}
    add_default = bench.default_unit("add")
    assert chosen == {
        ("add", add_default), ("add", "nau"), ("add", "nalu"),
        ("mul", bench.default_unit("mul")), ("mul", "nmu"), ("mul", "nalu"),
    }  # fmt: skip
    # Nine ranges each, in the published order.
    assert [key for op, unit, key in bench.runs(options) if unit == "nau"] == list(
        bench.RANGE_KEYS
    )
    every = _options(bench, "--ops", "mul", "--units", "nau", "--all-pairs")
    assert {(op, unit) for op, unit, _ in bench.runs(every)} == {("mul", "nau")}


def test_pairs_choose_the_units_per_op(bench):
    options = _options(
        bench, "--pairs", "mul:nmu,add:nau,mul:nalu,div:default", "--ranges", "m2_2,1_2"
    )
    assert bench.runs(options) == [
        ("mul", "nmu", "m2_2"), ("mul", "nmu", "1_2"),
        ("add", "nau", "m2_2"), ("add", "nau", "1_2"),
        ("mul", "nalu", "m2_2"), ("mul", "nalu", "1_2"),
        ("div", bench.default_unit("div"), "m2_2"),
        ("div", bench.default_unit("div"), "1_2"),
    ]  # fmt: skip


def test_train_flags_follow_the_protocol(bench):
    options = _options(bench, "--seeds", "3", "--train-args=--harden")
    flags = bench.train_flags("mul", "nmu", "1_2", options)
    text = " ".join(flags)
    assert "--task mul --static --single-layer --cell nmu --seeds 3" in text
    assert "--steps 50000" in text and "--seeds 3" in text and "--harden" in text
    # The seeds train as one vectorised program where train.py can do it.
    assert ("--vectorize" in flags) == (keras.backend.backend() == "jax")
    plain = _options(bench, "--seeds", "3", "--no-vectorize")
    assert "--vectorize" not in bench.train_flags("mul", "nmu", "1_2", plain)
    assert "--train-range=1,2 --extrapolation-range=2,6" in text
    assert "--sparsity-start" not in text  # the unit's own recipe
    div10 = " ".join(bench.train_flags("div10", "nmru", "m2_m1", options))
    assert "--task div" in div10 and "--steps 100000" in div10
    assert "--input-size 10 --subset-ratio 0.1 --overlap-ratio 0" in div10
    assert "--sparsity-start 0.5 --sparsity-end 0.75" in div10
    smoke = _options(bench, "--steps", "300")
    assert "--steps 300" in " ".join(bench.train_flags("div10", "nmru", "1_2", smoke))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ops", "pow"], "--ops: unknown pow"),
        (["--units", "nmu,nope"], "--units: unknown nope"),
        (["--ranges", "0_1"], "--ranges: unknown 0_1"),
        (["--seeds", "0"], "--seeds must be >= 1"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--jobs", "0"], "--jobs must be >= 1"),
        (["--pairs", "mul:nmu,mul"], "--pairs: mul is not OP:UNIT"),
        (["--pairs", "pow:nmu"], "--pairs: pow:nmu is not OP:UNIT"),
    ],
)
def test_bad_input_exits_2_with_one_line(bench, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        bench.main([*argv, "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.count("\n") == 1 and message in err
    assert not (tmp_path / "b").exists()


def _fake_run(folder, successes, steps=50000):
    """A finished `train.py --seeds N` run: its seeds' results, its summary."""
    for seed, success in enumerate(successes):
        result = {
            "seed": seed,
            "success": success,
            "solved_step": 12000 + seed if success else None,
            "sparsity_error": 0.01 if success else 0.4,
            "train_seconds": 30.0 + seed,
            "steps": steps,
        }
        (folder / f"seed_{seed}").mkdir(parents=True)
        (folder / f"seed_{seed}" / "results.json").write_text(json.dumps(result))
    (folder / "summary.json").write_text("{}")


def test_finished_runs_are_kept_and_tabled(bench, tmp_path, capsys):
    out = tmp_path / "bench"
    _fake_run(out / "mul" / "nmu" / "m2_m1", [True, False, True])
    _fake_run(out / "mul" / "nmu" / "1_2", [True, True, True])
    rows = bench.main(
        ["--ops", "mul", "--units", "nmu", "--ranges", "m2_m1,1_2",
         "--seeds", "3", "--out", str(out)]
    )  # fmt: skip
    # Nothing was trained: the fake runs are what the table holds.
    assert [(r["range"], r["successes"], r["seeds"]) for r in rows] == [
        ("m2_m1", 2, 3),
        ("1_2", 3, 3),
    ]
    assert rows[0]["published"] == 20 and rows[0]["median_solved_step"] == 12001
    record = json.loads((out / "nalm_benchmark.json").read_text())
    assert record["protocol"]["epsilon"] == 1e-5
    assert record["protocol"]["steps"] == {"mul": 50000}
    (pool,) = record["pooled"]
    assert (pool["successes"], pool["seeds"], pool["ranges"]) == (5, 6, 2)
    markdown = (out / "nalm_benchmark.md").read_text()
    assert "| [-2,-1] -> [-6,-2] | 2/3 [0.21, 0.94] (pub. 20/25) |" in markdown
    assert "| all ranges | 5/6 = 83.3%" in markdown
    assert "Training time per run (one seed): median 31.0 s over 6 runs." in markdown
    assert markdown.strip() in capsys.readouterr().out


def test_an_unfinished_run_is_not_tabled_as_a_failure(bench, tmp_path):
    folder = tmp_path / "nmu"
    _fake_run(folder, [True, True])
    (folder / "summary.json").unlink()
    row = bench.row("mul", "nmu", "1_2", folder, 2)
    assert row["seeds"] == 0 and row["success_ci"] is None
    assert bench._cell(row) == "not run"


def _stopped_run(folder, successes, stopped):
    """A run whose seeds `stopped` ended on a NaN loss: the others' results,
    the stopped seeds' failed.json, the run's failed.json, no summary."""
    _fake_run(folder, successes)
    (folder / "summary.json").unlink()
    (folder / "failed.json").write_text(json.dumps({"reason": "1 of 3 stopped"}))
    for seed in stopped:
        (folder / f"seed_{seed}").mkdir()
        reason = {"seed": seed, "reason": "the loss is nan"}
        (folder / f"seed_{seed}" / "failed.json").write_text(json.dumps(reason))


def test_seeds_stopped_on_nan_count_as_failures_and_are_not_run_again(bench, tmp_path):
    out = tmp_path / "bench"
    folder = out / "div" / "realnpu" / "m2_2"
    _stopped_run(folder, [True, False], stopped=[2])
    assert bench.finished(folder, 3) and not bench.finished(folder, 4)
    # Nothing is trained: the run is over, its stopped seed a failure.
    (row,) = bench.main(
        ["--pairs", "div:realnpu", "--ranges", "m2_2", "--seeds", "3",
         "--out", str(out)]
    )  # fmt: skip
    assert (row["successes"], row["seeds"], row["stopped"]) == (1, 3, 1)
    assert row["train_seconds"] == [30.0, 31.0]
    markdown = (out / "nalm_benchmark.md").read_text()
    assert "| stopped on NaN |" in markdown
    assert "| [-2,2] -> [-6,-2] u [2,6] | RealNPU | 1/3 | [0.06, 0.79] | 1 |" in (
        markdown
    )
    # A seed neither finished nor stopped leaves the run unfinished.
    row = bench.row("div", "realnpu", "m2_2", folder, 4)
    assert row["seeds"] == 0 and row["stopped"] == 0


@pytest.mark.slow
def test_benchmark_trains_writes_its_tables_and_resumes(bench, tmp_path):
    out = tmp_path / "bench"
    argv = ["--ops", "add", "--units", "nau", "--ranges", "1_2", "--seeds", "2",
            "--steps", "300", "--out", str(out), "--jobs", "1"]  # fmt: skip
    (row,) = bench.main(argv)
    assert (row["op"], row["unit"], row["range"]) == ("add", "nau", "1_2")
    assert row["seeds"] == 2 and row["steps"] == 300
    summary = out / "add" / "nau" / "1_2" / "summary.json"
    results = json.loads((summary.parent / "seed_1" / "results.json").read_text())
    assert results["run_config"]["model"]["single_layer"] is True
    assert results["run_config"]["evaluation"]["select"] == "best-interpolation"
    assert results["problem"]["extrapolation_range"] == [[2.0, 6.0]]
    # The benchmark's threshold: (1e-5 (|a| + |b|))^2 on average, with a and
    # b uniform on [2, 6], E[(a + b)^2] = 64 + 8/3.
    (test,) = [e for e in results["eval"] if e["split"] == "extrapolation"]
    assert test["success_threshold_mse"] == pytest.approx(
        1e-10 * (64 + 8 / 3), rel=0.03
    )
    assert "| [1,2] -> [2,6] |" in (out / "nalm_benchmark.md").read_text()
    assert (out / "nalm_benchmark.json").is_file()
    # A second invocation keeps the finished run: nothing is trained again.
    before = summary.stat().st_mtime_ns
    (again,) = bench.main(argv)
    assert summary.stat().st_mtime_ns == before
    assert again == row


def test_a_pooled_published_rate_needs_every_range(bench):
    def rows(keys):
        return [{"op": "div10", "unit": "nmru", "successes": 20, "seeds": 25}
                for _ in keys]  # fmt: skip

    (some,) = bench.pooled(rows(["m20_m10"]))
    assert some["ranges"] == 1 and some["published"] is None
    (every,) = bench.pooled(rows(bench.RANGE_KEYS))
    assert every["ranges"] == 9 and every["published"] == 0.916
