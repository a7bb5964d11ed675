"""Many `train.py` runs for the experiments/ scripts, from any folder.

`run_sweep` trains each `(OUT, flags)` pair whose `OUT/summary.json` is
missing, so a stopped sweep resumes; each run is a `train.py` process (the
checkout's own, found beside this package, so the working folder does not
matter), several at a time with `jobs`.
"""

import concurrent.futures
import os
import queue
import shutil
import subprocess
import sys
from pathlib import Path

# The train.py of the checkout this package belongs to.
TRAIN_SCRIPT = Path(__file__).resolve().parents[1] / "train.py"


def train_command(flags):
    """The command line that runs `train.py flags` in a fresh Python."""
    return [sys.executable, str(TRAIN_SCRIPT), *flags]


def run_sweep(runs, jobs=1, pin_cores=False):
    """Runs `train.py FLAGS --out OUT` for each `(OUT, FLAGS)` not finished.

    Args:
        runs: Iterable of `(out, flags)`: the output folder and the list of
            the other `train.py` flags (with `--seeds`, so that a finished
            run leaves `out/summary.json`).
        jobs: Runs at a time, each in its own process. Defaults to `1`.
        pin_cores: Whether each of the `jobs` processes gets its own CPU core
            (`taskset`, where installed) and one TensorFlow thread, so that
            parallel runs do not slow each other down by contention.
            Defaults to `False`.

    Raises:
        SystemExit: when a run fails, naming its command.
    """
    if jobs < 1:
        raise SystemExit(f"--jobs must be >= 1; received {jobs}")
    pending = [
        (Path(out), list(flags))
        for out, flags in runs
        if not (Path(out) / "summary.json").exists()
    ]
    cores = queue.Queue()
    for core in range(jobs):
        cores.put(core)
    pin = pin_cores and jobs > 1 and shutil.which("taskset") is not None
    env = None
    if pin_cores:
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")

    def run_one(out, flags):
        core = cores.get()
        try:
            command = train_command([*flags, "--out", str(out)])
            if pin:
                command = ["taskset", "-c", str(core), *command]
            print(" ".join(command), flush=True)
            returncode = subprocess.run(command, env=env).returncode
        finally:
            cores.put(core)
        if returncode != 0:
            raise SystemExit(f"failed ({returncode}): {' '.join(command)}")

    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        # list() re-raises the first failed run's error here.
        list(pool.map(lambda run: run_one(*run), pending))
