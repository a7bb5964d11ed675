"""The checkout's root, and the experiments/ and bench/ scripts as modules."""

import importlib.util
from pathlib import Path

# tests/support/scripts.py: the checkout is two folders up.
ROOT = Path(__file__).resolve().parents[2]


def load_script(relative):
    """The script at `ROOT / relative` (`"experiments/nan_sweep.py"`), loaded
    as a module from its path, without adding its folder to `sys.path`.

    Each call executes the script afresh and returns a new module object.
    """
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
