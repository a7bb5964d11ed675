"""What importing the library costs: Keras and NumPy, nothing heavier."""

import os
import subprocess
import sys

from tests.support.scripts import ROOT


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
# Nor does the library reach up into the tasks or the runner.
assert not {{"tasks", "runner"}} & set(sys.modules)
print(nalu_rnn.NAC(1)(np.ones((2, 3), "float32")).shape)
"""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["KERAS_BACKEND"] = "jax"
    for mode in ("installed", "blocked"):
        done = subprocess.run(
            [sys.executable, "-c", code, mode],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert done.stdout.strip().endswith("(2, 1)")
