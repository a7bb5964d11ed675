"""Tests of `runner.quiet`: no TensorFlow start-up notices by default."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runner import quiet

ROOT = Path(__file__).resolve().parents[1]
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
    import train

    assert train.parse_args(["--task", "add", "--verbose"]).verbose is True
    assert train.parse_args(["--task", "add"]).verbose is False


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


def test_library_imports_no_tensorflow_or_matplotlib():
    # `import keras` itself imports matplotlib where it is installed (for
    # keras.visualization), so the check is that nalu_rnn adds none of the
    # experiments' packages, and that it imports with them all missing.
    heavy = ("tensorflow", "matplotlib", "tensorboard", "tensorflow_datasets")
    code = f"""
import sys
heavy = {heavy!r}
if sys.argv[1] == "blocked":
    for name in heavy:
        sys.modules[name] = None
import keras
before = set(sys.modules)
import numpy as np
import nalu_rnn
added = sorted(n for n in set(sys.modules) - before if n.split(".")[0] in heavy)
assert not added, added
assert sys.modules.get("tensorflow") is None
print(nalu_rnn.NAC(1)(np.ones((2, 3), "float32")).shape)
"""
    for mode in ("installed", "blocked"):
        done = subprocess.run(
            [sys.executable, "-c", code, mode],
            cwd=ROOT,
            env=_env(KERAS_BACKEND="jax"),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().endswith("(2, 1)")
