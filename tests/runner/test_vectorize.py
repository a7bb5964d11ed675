"""Tests of `runner.vectorize`: `train.py --seeds N --vectorize`.

Seed K of a vectorised run must end as `train.py --seed K` alone does. The
equivalence tests train each unit (NAC, NAU, NMU, NALU; static and
recurrent) both ways and compare what results.json records. The formula,
the gates' decisions, success, the solved step, the selected step and
hardening's choice must be equal, and every float metric equal within
`RTOL`:

* The step is Keras's own `train_step`, on the same data from the same
  initial weights, so the programs differ only in how XLA compiles a
  vmapped step against a lone one (fusions, and with them where a multiply
  and an add contract into one rounding). Measured on this machine (JAX
  0.10.2, CPU): the static units' results are bit-identical; in the
  recurrent units a weight first differs by 1 to 3 float32 ulps (about
  1e-7 relative) after some 10 steps, and training amplifies it: over
  these runs' 150 steps the metrics differ by at most about 1e-5 relative
  (`test_each_unit_ends_as_its_seed_alone` prints the largest).
* `RTOL = 1e-3` leaves a factor of about 100 above that, while a real
  error (another seed's data or weights, a lost update, a schedule off by
  a step) moves these metrics by percents to orders of magnitude.
* The fresh model's error (`fresh_mse`) does not depend on training at
  all: it must be equal to the last bit.

Not slow: CI runs only JAX's fast tests, and JAX is the only backend that
vectorises (the others refuse, which every backend checks).
"""

import json

import keras
import numpy as np
import pytest

import runner.run
from runner.cli import main, parse_args
from tasks.arithmetic.batches import ArithmeticBatches
from tasks.arithmetic.data import ArithmeticTask
from tasks.arithmetic.experiment import ArithmeticExperiment
from tests.support.arrays import assert_array_equal

RTOL = 1e-3
# Float metrics of each eval entry compared within RTOL.
METRICS = ("mse", "mae", "mse_raw", "scaled_error")

needs_jax = pytest.mark.skipif(
    keras.backend.backend() != "jax",
    reason="--vectorize trains on JAX only (other backends refuse it)",
)

SMALL = [
    "--steps", "150", "--batch-size", "16", "--eval-sequences", "32",
    "--check-every", "25", "--quiet",
]  # fmt: skip
RECURRENT = ["--eval-lengths", "10,20"]
# The static recipes' sparsity ramp, late and short: every change of its
# strength compiles the step again (alone and vectorised), 20 per ramp.
STATIC = ["--static", "--sparsity-start", "0.8", "--sparsity-end", "0.82"]
STATIC += ["--sparsity-stop", "0.95"]
UNITS = [
    ("add", "nac"),
    ("add", "nau"),
    ("mul", "nmu"),
    ("mul", "nalu"),
    ("div", "nmru"),
]


def _results(folder):
    return json.loads((folder / "results.json").read_text())


def _largest_difference(a, b):
    """The largest relative difference of the float metrics; asserts that
    everything else results.json records about the seed is equal."""
    for key in ("formula", "success", "success_raw", "solved_step", "problem"):
        assert a.get(key) == b.get(key), key
    assert a["selection"].get("step") == b["selection"].get("step")
    assert a["hardening"]["applied"] == b["hardening"]["applied"]
    for key in ("gate_snap", "weight_snap"):
        snaps = a.get(key, {}), b.get(key, {})
        assert snaps[0].get("step") == snaps[1].get("step")
        for x, y in zip(*(s.get("snapped", []) for s in snaps), strict=True):
            assert x == {**y, "max_change": pytest.approx(y["max_change"], rel=RTOL)}
    for unit, gates in b["gates"].items():
        assert [g["path"] for g in a["gates"][unit]] == [g["path"] for g in gates]
    largest = 0.0
    for x, y in zip(a["eval"], b["eval"], strict=True):
        assert x["fresh_mse"] == y["fresh_mse"]
        assert x.get("success") == y.get("success")
        for key in METRICS:
            if y.get(key) is None:
                assert x.get(key) is None
                continue
            assert x[key] == pytest.approx(y[key], rel=RTOL), (x["length"], key)
            largest = max(largest, abs(x[key] - y[key]) / max(abs(y[key]), 1e-30))
    return largest


@needs_jax
@pytest.mark.parametrize("static", [True, False], ids=["static", "recurrent"])
@pytest.mark.parametrize("task, cell", UNITS)
def test_each_unit_ends_as_its_seed_alone(tmp_path, task, cell, static):
    argv = ["--task", task, "--cell", cell, *SMALL]
    argv += STATIC if static else RECURRENT
    if cell == "nalu":
        # The gate snap and the selection per seed, too.
        argv += ["--gate-snap", "0.5", "--select", "best-interpolation"]
        argv += ["--validate-every", "50"]
    if cell == "nmru":
        if not static:
            pytest.skip(
                "a running quotient over 10 steps amplifies float rounding "
                "past the formula's three digits; the static case checks the "
                "weight snap"
            )
        # The weight snap per seed, after a pull on the pairs.
        argv += ["--weight-snap", "0.5", "--pair-pull", "1", "--sparsity", "1"]
    vectorised = tmp_path / "vectorised"
    assert main([*argv, "--seed", "1", "--seeds", "2", "--vectorize",
                 "--out", str(vectorised)]) == 0  # fmt: skip
    alone = tmp_path / "alone"
    # A fresh process's session: the lone run's layer names.
    keras.backend.clear_session()
    assert main([*argv, "--seed", "2", "--out", str(alone)]) == 0
    a, b = _results(vectorised / "seed_2"), _results(alone)
    largest = _largest_difference(a, b)
    print(f"{task} {cell} static={static}: largest relative difference {largest:.1e}")
    assert a["vectorized"] == {
        "seeds": 2,
        "train_wall_seconds": a["vectorized"]["train_wall_seconds"],
    }
    assert a["run_config"]["infra"]["vectorize"] is True


class _Plain(keras.utils.PyDataset):
    """`ArithmeticBatches`'s draws without its `stacked`: the stream's
    batch-by-batch path."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


@needs_jax
@pytest.mark.parametrize("static", [True, False], ids=["static", "recurrent"])
@pytest.mark.parametrize("stackable", [True, False], ids=["stacked", "one-by-one"])
def test_the_stream_stacks_each_seeds_batch_and_zeros_for_stopped_seeds(
    static, stackable
):
    seeds = [3, 4, 5, 6]
    tasks = [ArithmeticTask("add", static=static, subset_seed=s) for s in seeds]

    def datasets():
        made = [
            ArithmeticBatches(t, 6, 8, 2, seed=s)
            for t, s in zip(tasks, seeds, strict=True)
        ]
        return made if stackable else [_Plain(d) for d in made]

    from runner.vectorize import _BatchStream  # imports jax

    alone = datasets()
    for stopped in [(), (1, 3), (0, 1, 2, 3)]:
        stream = _BatchStream(datasets(), 2, epochs=0, stopped=stopped)
        stream.close()
        x, y = (np.asarray(part) for part in stream._draw(1))
        drawn = set(range(len(seeds))) - set(stopped) or {0}  # 0 shapes them
        for k, dataset in enumerate(alone):
            xk, yk = dataset[1]
            if k not in drawn:
                xk, yk = np.zeros_like(xk), np.zeros_like(yk)
            assert_array_equal(x[k], xk)
            assert_array_equal(y[k], yk)


@needs_jax
def test_layout_is_that_of_seeds_n_and_finished_seeds_are_kept(tmp_path, capsys):
    argv = ["--task", "add", "--cell", "nau", *STATIC, *SMALL, "--seeds", "2"]
    argv[argv.index("--steps") + 1] = "30"
    assert main([*argv, "--out", str(tmp_path / "one_by_one")]) == 0
    out = tmp_path / "vectorised"
    assert main([*argv, "--vectorize", "--out", str(out)]) == 0

    def files(folder):
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))

    assert files(out) == files(tmp_path / "one_by_one")
    assert "backup" not in files(out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    # As with --seeds N, a run stopped between seeds keeps the finished ones.
    first = _results(out / "seed_0")
    (out / "summary.json").unlink()
    (out / "seed_1" / "results.json").unlink()
    capsys.readouterr()
    argv.remove("--quiet")
    assert main([*argv, "--vectorize", "--out", str(out)]) == 0
    assert "Seed 0 already finished" in capsys.readouterr().out
    assert _results(out / "seed_0") == first
    assert _results(out / "seed_1")["vectorized"]["seeds"] == 1
    assert json.loads((out / "summary.json").read_text())["seeds"] == [0, 1]


@needs_jax
def test_saturation_switches_per_seed(tmp_path):
    # The iNALU's recipe gates its saturation penalty on each seed's loss.
    argv = ["--task", "add", "--cell", "inalu", *SMALL, *RECURRENT]
    argv += ["--saturation", "0.05", "--learning-rate", "0.1"]
    assert main([*argv, "--seeds", "2", "--vectorize",
                 "--out", str(tmp_path / "vectorised")]) == 0  # fmt: skip
    keras.backend.clear_session()
    assert main([*argv, "--seed", "1", "--out", str(tmp_path / "alone")]) == 0
    _largest_difference(
        _results(tmp_path / "vectorised" / "seed_1"), _results(tmp_path / "alone")
    )


@needs_jax
def test_a_seed_that_turns_nan_stops_alone(tmp_path, monkeypatch, capsys):
    targets = ArithmeticTask.targets

    def nan_for_seed_1(self, x):
        y = targets(self, x)
        return np.full_like(y, np.nan) if self.subset_seed == 1 else y

    monkeypatch.setattr(ArithmeticTask, "targets", nan_for_seed_1)
    out = tmp_path / "run"
    argv = ["--task", "add", "--cell", "nac", *SMALL, *RECURRENT]
    assert main([*argv, "--seeds", "3", "--vectorize", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    # A lone seed 1 stops with the same message at the same step.
    assert "seed 1: Training stopped at step 25 (epoch 1)" in err
    assert "--clipnorm" in err
    failed = json.loads((out / "seed_1" / "failed.json").read_text())
    assert failed["step"] == 25 and "the loss is nan" in failed["reason"]
    assert not (out / "seed_1" / "results.json").exists()
    # The others finished; the run is not (no summary, as with --seeds N).
    assert (out / "seed_0" / "results.json").exists()
    assert (out / "seed_2" / "results.json").exists()
    assert not (out / "summary.json").exists()
    assert main([*argv, "--seed", "1", "--out", str(tmp_path / "alone")]) == 1
    alone = capsys.readouterr().err
    assert failed["reason"] in alone


class _Interrupt(Exception):
    pass


@needs_jax
def test_an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one(
    tmp_path, monkeypatch, capsys
):
    argv = ["--task", "add", "--cell", "nau", "--static", "--steps", "300",
            "--batch-size", "16", "--eval-sequences", "32", "--check-every", "25",
            "--select", "best-interpolation", "--validate-every", "50",
            "--seeds", "2", "--vectorize"]  # fmt: skip
    # Three epochs, with a checkpoint after each.
    monkeypatch.setattr(ArithmeticExperiment, "max_steps_per_epoch", 100)
    assert main([*argv, "--quiet", "--out", str(tmp_path / "whole")]) == 0
    from runner import vectorize

    save = vectorize._Group._save

    def save_then_die(self, epoch):
        save(self, epoch)
        if epoch == 2:
            raise _Interrupt  # stands in for SIGKILL after a checkpoint

    out = tmp_path / "resumed"
    monkeypatch.setattr(vectorize._Group, "_save", save_then_die)
    with pytest.raises(_Interrupt):
        main([*argv, "--quiet", "--out", str(out)])
    assert (out / "backup" / vectorize.CHECKPOINT_FILE).exists()
    assert not (out / "seed_0" / "results.json").exists()
    monkeypatch.setattr(vectorize._Group, "_save", save)
    capsys.readouterr()
    assert main([*argv, "--out", str(out)]) == 0
    assert "Resuming from the checkpoint" in capsys.readouterr().out
    assert not (out / "backup").exists()
    for seed in (0, 1):
        a = _results(out / f"seed_{seed}")
        b = _results(tmp_path / "whole" / f"seed_{seed}")
        for results in (a, b):
            results.pop("train_seconds")
            results.pop("vectorized")
            results["run_config"]["infra"].pop("quiet")
            results["run_config"]["run"].pop("out")
        # The whole state, the data stream and the schedules resume
        # exactly: the same numbers to the last bit.
        assert a == b


# ------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "give --seeds N"),
        (["--seeds", "2", "--strategy", "mirrored"], "--strategy"),
        (["--seeds", "2", "--tensorboard"], "--tensorboard"),
        (["--seeds", "2", "--export"], "--export"),
    ],
)
def test_what_it_cannot_do_exits_2_with_one_line(extra, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--task", "add", "--vectorize", *extra])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and err[-1].startswith("train.py: error: ")


def test_mnist_tasks_are_refused(capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--task", "mnist_add", "--seeds", "2", "--vectorize"])
    assert info.value.code == 2
    assert "arithmetic tasks only" in capsys.readouterr().err


def test_another_backend_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(keras.backend, "backend", lambda: "tensorflow")
    argv = ["--task", "add", "--seeds", "2", "--vectorize", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "KERAS_BACKEND=jax" in err[0]
    assert not (tmp_path / "run").exists()


@needs_jax
def test_a_probes_experiment_is_refused(tmp_path, capsys):
    class Probe(ArithmeticExperiment):
        pass

    argv = ["--task", "add", "--seeds", "2", "--vectorize", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")], experiment=Probe) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Probe" in err[0]


def test_the_backend_is_checked_before_anything_trains(monkeypatch, tmp_path):
    monkeypatch.setattr(keras.backend, "backend", lambda: "torch")
    with pytest.raises(runner.run.VectorizeError, match="torch backend"):
        runner.run.check_vectorize()
    # Called with --vectorize, the one-seed-at-a-time loop says where to go.
    config = parse_args(["--task", "add", "--seeds", "2", "--vectorize"])
    with pytest.raises(runner.run.VectorizeError, match="runner.vectorize"):
        runner.run.run_seeds(config, tmp_path)
    assert not any(tmp_path.iterdir())
