"""Tests of `runner.quiet`: no TensorFlow start-up notices by default."""

import os
import re
import subprocess
import sys

import pytest

from runner import quiet
from runner.cli import parse_args
from tests.support.scripts import ROOT

NOTICE = re.compile(r"oneDNN|absl|cpu_feature_guard")


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k != quiet.LOG_LEVEL_VAR}
    env.update(extra)
    return env


def _train(tmp_path, *flags, env=None):
    args = [sys.executable, "train.py", "--task", "add", "--steps", "5"]
    args += ["--eval-sequences", "10", "--out", str(tmp_path / "run"), *flags]
    return subprocess.run(
        args, cwd=ROOT, env=env or _env(), capture_output=True, text=True
    )


def test_train_py_starts_without_notices(tmp_path):
    done = _train(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    noisy = [line for line in done.stderr.splitlines() if NOTICE.search(line)]
    assert noisy == []


def test_verbose_runs_and_is_a_config_field(tmp_path):
    done = _train(tmp_path, "--verbose")
    assert done.returncode == 0, done.stderr[-3000:]
    assert parse_args(["--task", "add", "--verbose"]).infra.verbose is True
    assert parse_args(["--task", "add"]).infra.verbose is False


@pytest.mark.parametrize(
    "argv, environ, wanted",
    [
        ([], {}, False),
        (["--task", "add", "--verbose"], {}, True),
        (["--verb"], {}, True),
        (["--task", "add"], {"TF_CPP_MIN_LOG_LEVEL": "0"}, True),
    ],
)
def test_who_wants_the_notices(monkeypatch, argv, environ, wanted):
    monkeypatch.delenv(quiet.LOG_LEVEL_VAR, raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert quiet.wants_notices(argv) is wanted


def test_filtered_stderr_drops_notices_and_keeps_the_rest(capfd):
    with quiet.filtered_stderr():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is ")
        os.write(2, b"called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1.2 7 port.cc:153] oneDNN custom operations ")
        os.write(2, b"are on. You may see slightly different numerical results\n")
        os.write(2, b"a real error\n")
        print("from Python", file=sys.stderr)
    # Under pytest, sys.stderr is not descriptor 2: compare the lines only.
    assert sorted(capfd.readouterr().err.splitlines()) == [
        "a real error",
        "from Python",
    ]
