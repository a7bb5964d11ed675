"""The experiments/ and bench/ scripts run from any working folder: each
imports the installed packages, never its checkout by path."""

import os
import subprocess
import sys

import pytest

from tests.support.scripts import ROOT

# Slow (each script in a process of its own): TensorFlow only in CI.
pytestmark = pytest.mark.slow

# Every script of experiments/ and bench/.
SCRIPTS = sorted(
    str(path.relative_to(ROOT))
    for folder in ("experiments", "bench")
    for path in (ROOT / folder).glob("*.py")
)
# TensorFlow's start-up notices, which the scripts hide as train.py does.
NOTICES = ("oneDNN custom operations", "absl::InitializeLog", "cpu_feature_guard")


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_runs_from_another_folder(script, tmp_path):
    # `runner` and `tasks` as the editable install provides them, whichever
    # checkout it points at: the script itself must not need the folder.
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Set, it says the user wants the notices (`runner.quiet.wants_notices`).
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert not [notice for notice in NOTICES if notice in result.stderr]


def test_every_script_is_found():
    assert "experiments/tables.py" in SCRIPTS and "bench/cells.py" in SCRIPTS
