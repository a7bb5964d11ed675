"""Tests of `runner.sweeps`: many `train.py` runs on a Dask cluster.

Most run `tests/support/fake_train.py` in place of train.py (the same files
and exit statuses, in a fraction of a second) on the embedded cluster. The
test on a real cluster of localhost processes, with a worker killed, is in
tests/scripts/test_dask_localhost.py; the experiments/ scripts that sweep
are tested in tests/scripts."""

import argparse
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from runner import sweeps
from tests.support.scripts import ROOT

FAKE_TRAIN = ROOT / "tests" / "support" / "fake_train.py"
# train.py's flags for a run of a few seconds, as in the other sweep tests.
TINY = ["--task", "add", "--static", "--cell", "nau", "--seeds", "1",
        "--steps", "5", "--batch-size", "8", "--eval-sequences", "16",
        "--quiet"]  # fmt: skip


@pytest.fixture
def fake_train(monkeypatch):
    """train.py replaced by the stand-in, for the embedded cluster's workers
    (threads of this process)."""
    monkeypatch.setattr(sweeps, "TRAIN_SCRIPT", FAKE_TRAIN)


def _read(path):
    return json.loads(Path(path).read_text())


def _attempts(log):
    return [line for line in log.read_text().splitlines() if line.startswith("# ")]


def test_train_command_finds_train_py_of_this_checkout():
    command = sweeps.train_command(["--task", "add"])
    assert command[0] == sys.executable
    assert Path(command[1]) == ROOT / "train.py"
    assert command[2:] == ["--task", "add"]


def test_sweep_flags_are_added_once_and_become_run_sweep_arguments(tmp_path):
    parser = argparse.ArgumentParser()
    sweeps.add_sweep_flags(parser, jobs=2)
    assert sweeps.sweep_settings(parser.parse_args([])) == {
        "jobs": 2,
        "scheduler": None,
        "checkpoint_dir": None,
    }
    options = parser.parse_args(
        ["--jobs", "3", "--scheduler", "tcp://h:8786", "--checkpoint-dir", "ck"]
    )
    assert sweeps.sweep_settings(options) == {
        "jobs": 3,
        "scheduler": "tcp://h:8786",
        "checkpoint_dir": "ck",
    }


def test_run_sweep_writes_each_run_and_records_failures_without_retrying(
    tmp_path, fake_train, capsys
):
    kept, ok, nan, usage = (tmp_path / name for name in ("kept", "ok", "nan", "usage"))
    kept.mkdir()
    (kept / "summary.json").write_text("{}")
    runs = [
        (kept, ["--seeds", "2"]),
        (ok, ["--seeds", "2", "--value", "3"]),
        (nan, ["--seeds", "2", "--fail", "1"]),
        (usage, ["--fail", "2"]),
    ]
    with pytest.raises(SystemExit) as info:
        sweeps.run_sweep(runs, jobs=2)
    message = str(info.value.code)
    assert message.startswith("2 of 4 runs failed")
    assert f"{nan}: train.py: NaN loss at step 7 of seed 0" in message
    assert f"{usage}: train.py: error: --task: no task named nothing" in message
    # A finished run is kept, not trained again.
    assert (kept / "summary.json").read_text() == "{}"
    assert _read(ok / "summary.json")["seeds"] == [0, 1]
    assert _read(ok / "seed_1" / "results.json") == {"seed": 1, "value": 3.0}
    # A failed run says why, keeps the seeds it finished, and ran once.
    failed = _read(nan / "failed.json")
    assert failed["status"] == 1
    assert failed["reason"] == "train.py: NaN loss at step 7 of seed 0"
    assert failed["command"] == f"train.py --seeds 2 --fail 1 --out {nan}"
    assert failed["log_tail"][-1] == failed["reason"]
    assert (nan / "seed_0" / "results.json").exists()
    assert not (nan / "summary.json").exists()
    assert len(_attempts(nan / "train.log")) == 1
    assert _read(usage / "failed.json")["status"] == 2
    err = capsys.readouterr().err
    assert "sweep: 3 runs to train (1 finished before, kept)" in err
    assert "0 remaining" in err and str(kept) not in err

    # The next invocation runs the failed runs again, keeping their seeds.
    (nan / "seed_0" / "results.json").write_text('{"seed": 0, "value": -1}')
    outcomes = sweeps.run_sweep([(ok, runs[1][1]), (nan, ["--seeds", "2"])])
    assert [o["state"] for o in outcomes] == ["kept", "done"]
    assert _read(nan / "summary.json")["values"][0] == {"seed": 0, "value": -1}
    assert not (nan / "failed.json").exists()


def test_failed_runs_are_left_to_the_caller_without_exit_on_failure(
    tmp_path, fake_train
):
    runs = [(tmp_path / "ok", ["--seeds", "1"]), (tmp_path / "usage", ["--fail", "2"])]
    outcomes = sweeps.run_sweep(runs, exit_on_failure=False)
    assert [o["state"] for o in outcomes] == ["done", "failed"]
    message = sweeps.failure_message(outcomes[1:], len(runs))
    assert message.startswith("1 of 2 runs failed")
    assert f"{tmp_path / 'usage'}: train.py: error:" in message


def test_runs_start_in_the_order_given(tmp_path, fake_train, capsys):
    outs = [tmp_path / name for name in ("d", "a", "c", "b", "e")]
    sweeps.run_sweep([(out, ["--seeds", "1"]) for out in outs])
    lines = capsys.readouterr().err.splitlines()[1:]
    assert [line.rsplit(" ", 3)[1] for line in lines] == [str(o) for o in outs]


def test_train_run_returns_what_train_py_wrote_and_leaves_no_scratch(
    tmp_path, fake_train, monkeypatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    finished = {"seed_0/results.json": {"seed": 0, "value": 42}}
    result = sweeps.train_run(["--seeds", "2"], finished=finished)
    assert result["status"] == 0 and result["reason"] is None
    assert result["files"] == {
        "seed_0/results.json": {"seed": 0, "value": 42},
        "seed_1/results.json": {"seed": 1, "value": 1.0},
        "summary.json": {
            "seeds": [0, 1],
            "values": [{"seed": 0, "value": 42}, {"seed": 1, "value": 1.0}],
        },
    }
    assert result["log_tail"] == ["a line of noise on stderr"]
    assert result["worker"] is None
    assert list(scratch.iterdir()) == []


def test_each_attempt_heads_its_lines_in_the_log(tmp_path, fake_train):
    # An earlier attempt, killed in the middle of a progress bar.
    (tmp_path / "train.log").write_text("# w1: train.py --seeds 1\n 3/10 [==>")
    result = sweeps.train_run(["--seeds", "1", "--fail", "1"], workdir=tmp_path)
    assert _attempts(tmp_path / "train.log") == [
        "# w1: train.py --seeds 1",
        "# no worker: train.py --seeds 1 --fail 1",
    ]
    # Only the last attempt's lines explain its failure.
    assert result["log_tail"] == [
        "a line of noise on stderr",
        "train.py: NaN loss at step 7 of seed 0",
    ]


def test_checkpoint_dir_holds_each_run_and_a_run_finished_there_is_collected(
    tmp_path, fake_train
):
    shared = tmp_path / "shared"
    out = tmp_path / "runs" / "a"
    flags = ["--seeds", "1"]
    folder = shared / sweeps.run_name(out, flags)
    # An earlier attempt finished there, but its answer never came back.
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text('{"seeds": [0], "values": "earlier"}')
    other = tmp_path / "runs" / "b"
    sweeps.run_sweep([(out, flags), (other, flags)], checkpoint_dir=shared)
    assert _read(out / "summary.json")["values"] == "earlier"
    assert not (folder / "train.log").exists()
    # The other trained in its own folder there; only its JSON is in OUT.
    trained = shared / sweeps.run_name(other, flags)
    assert len(_attempts(trained / "train.log")) == 1
    assert sorted(p.name for p in other.iterdir()) == ["seed_0", "summary.json"]
    assert _read(other / "summary.json") == _read(trained / "summary.json")


def test_run_name_depends_on_the_folder_and_the_flags(tmp_path):
    name = sweeps.run_name(tmp_path / "add-nac", ["--seeds", "2"])
    assert name.startswith("add-nac-") and len(name) == len("add-nac-") + 12
    assert name == sweeps.run_name(tmp_path / "add-nac", ["--seeds", "2"])
    assert name != sweeps.run_name(tmp_path / "add-nac", ["--seeds", "3"])
    assert name != sweeps.run_name(tmp_path / "x" / "add-nac", ["--seeds", "2"])


def test_progress_counts_done_failed_remaining_and_time_left():
    now = [0.0]
    stream = io.StringIO()
    progress = sweeps.Progress(3, kept=1, stream=stream, clock=lambda: now[0])
    progress.start("here")
    now[0] = 10.0
    progress.update({"out": "a", "state": "done", "seconds": 9.5})
    now[0] = 20.0
    progress.update({"out": "b", "state": "failed", "reason": "NaN", "seconds": 1})
    lines = stream.getvalue().splitlines()
    assert lines == [
        "sweep: 3 runs to train (1 finished before, kept) on here",
        "sweep: 1 done, 0 failed, 2 remaining, ETA 20s | done a (9.5 s)",
        "sweep: 1 done, 1 failed, 1 remaining, ETA 10s | failed b (1.0 s): NaN",
    ]


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = sweeps.Progress(2, stream=stream, clock=lambda: 0.0)
    progress.start("here")
    progress.update({"out": "a", "state": "failed", "reason": "NaN"})
    progress.close()
    # Each line first returns to the start and erases what was there.
    erase = "\r\x1b[K"
    assert stream.getvalue().split(erase) == [
        "",
        "sweep: 2 runs to train on here\n",
        "[------------------------] 0 done, 0 failed, 2 remaining, ETA ?",
        "failed a: NaN\n",
        "[############------------] 0 done, 1 failed, 1 remaining, ETA 0s\n",
    ]


def test_a_malformed_scheduler_address_is_one_line_and_status_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        sweeps.run_sweep([(tmp_path / "a", ["--seeds", "1"])], scheduler="nonsense::")
    assert info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "error: --scheduler nonsense::: invalid address" in err[0]
    with pytest.raises(SystemExit, match="--jobs must be >= 1"):
        sweeps.run_sweep([], jobs=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl: Linux")
def test_train_py_dies_with_the_worker_that_started_it(tmp_path):
    # A parent that starts a long child as a worker starts train.py.
    parent = subprocess.Popen(
        [sys.executable, "-c",
         "import os, subprocess, sys; from runner import sweeps; "
         "child = subprocess.Popen([sys.executable, '-c', sweeps._DIE_WITH_WORKER, "
         "str(os.getpid()), sys.executable, '-c', 'import time; time.sleep(60)']); "
         "print(child.pid, flush=True); child.wait()"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )  # fmt: skip
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail("the child outlived its parent")


@pytest.mark.slow
def test_run_sweep_trains_what_is_missing_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = tmp_path / "done"
    done.mkdir()
    (done / "summary.json").write_text("{}")
    outcomes = sweeps.run_sweep([(tmp_path / "new", TINY), (done, TINY)])
    assert [o["state"] for o in outcomes] == ["done", "kept"]
    summary = _read(tmp_path / "new" / "summary.json")
    assert summary["seeds"] == [0] and summary["task"] == "add"
    # On the embedded cluster a run trains in its own folder, model and all.
    assert (tmp_path / "new" / "seed_0" / "model.keras").is_file()
    assert (done / "summary.json").read_text() == "{}"


@pytest.mark.slow
def test_run_sweep_names_a_failed_run(tmp_path):
    with pytest.raises(SystemExit, match="1 of 1 runs failed"):
        sweeps.run_sweep([(tmp_path / "bad", ["--task", "no_such_task"])])
    failed = _read(tmp_path / "bad" / "failed.json")
    assert failed["status"] == 2
    assert failed["reason"].startswith("train.py: error:")
    assert "no_such_task" in failed["reason"]


def test_vectorize_is_added_where_it_applies_and_nowhere_else():
    import keras

    apply = sweeps.vectorize_where_it_applies
    seeds = ["--task", "add", "--cell", "nau", "--seeds", "4", "--quiet"]
    on_jax = keras.backend.backend() == "jax"
    assert apply(seeds) == ([*seeds, "--vectorize"] if on_jax else seeds)
    assert apply(seeds, enabled=False) == seeds
    # One seed; MNIST; an option --vectorize refuses; a flag train.py refuses
    # (left to train.py's own message); already there.
    for flags in (
        ["--task", "add", "--seeds", "1"],
        ["--task", "add"],
        ["--task", "mnist_count", "--seeds", "3"],
        ["--task", "add", "--seeds", "3", "--export"],
        ["--task", "add", "--seeds", "3", "--no-such-flag"],
        [*seeds, "--vectorize"],
    ):
        assert apply(flags) == flags
    parser = argparse.ArgumentParser()
    sweeps.add_vectorize_flag(parser)
    assert parser.parse_args([]).vectorize is True
    assert parser.parse_args(["--no-vectorize"]).vectorize is False


def test_the_runs_backend_is_read_as_keras_reads_it(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    assert sweeps.keras_backend() == "torch"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert sweeps.keras_backend() == "tensorflow"
    (tmp_path / "keras.json").write_text('{"backend": "jax"}')
    assert sweeps.keras_backend() == "jax"
