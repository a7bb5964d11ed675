"""Runs an experiments/ script on a Dask cluster of this machine's own.

Starts what docs/distributed.md starts on several machines, here all on
localhost: one `dask scheduler` and `--workers` `dask worker` processes of
one thread each; then runs `python SCRIPT ARGS --scheduler ADDRESS` and
stops the cluster when it ends (its exit status is this script's). The
scheduler's and workers' logs go to `--logs`.

    python experiments/dask_localhost.py --workers 2 experiments/success_rate.py \\
        --tasks recurrent --units nac --ops add,sub --seeds 10 --steps 300

The script's own flags pass through: a script that vectorises its runs
(`--vectorize` by default on JAX) does so on these workers, which inherit
this environment's `KERAS_BACKEND`; `--no-vectorize` turns it off.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Seconds the scheduler and the workers have to start.
START_TIMEOUT = 60
# No dashboard; the HTTP server each process starts all the same (health,
# metrics) on a free port of localhost, not on every interface.
LOCAL_HTTP = ("--no-dashboard", "--dashboard-address", "127.0.0.1:0")


class LocalhostCluster:
    """A `dask scheduler` and `dask worker` processes on localhost.

    Each process leads a process group of its own, which `stop` (or the end
    of a `with` block) kills: a worker's `train.py` goes with it.

    Args:
        workers: The number of workers, one thread each. Defaults to `2`.
        logs: The folder of the processes' logs (`scheduler.log`,
            `worker_<i>.log`). Defaults to `None`: a temporary folder.
        env: The processes' environment: the workers' `train.py` runs in
            it, so it must import this project (and its backend's choice,
            `KERAS_BACKEND`, is theirs). Defaults to `None`: this one's.

    Example:

    ```python
    with LocalhostCluster(workers=2) as cluster:
        run_sweep(runs, scheduler=cluster.address)
    ```
    """

    def __init__(self, workers=2, logs=None, env=None):
        self.logs = Path(logs or tempfile.mkdtemp(prefix="dask-localhost-"))
        self.env = env
        self.count = workers
        self.scheduler = None
        self.workers = []
        self.address = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info):
        self.stop()

    def start(self):
        """Starts the scheduler, then the workers; returns once all joined."""
        self.logs.mkdir(parents=True, exist_ok=True)
        # Port 0: a free port, which the scheduler writes to this file.
        scheduler_file = self.logs / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        self.scheduler = self._spawn(
            "scheduler.log",
            ["scheduler", "--host", "127.0.0.1", "--port", "0", *LOCAL_HTTP,
             "--scheduler-file", str(scheduler_file)],
        )  # fmt: skip
        self.address = self._wait_for_address(scheduler_file)
        for i in range(self.count):
            self.add_worker(f"worker_{i}.log")
        self.wait_for_workers(self.count)

    def add_worker(self, log_name):
        """Starts one more worker, and returns its process."""
        worker = self._spawn(
            log_name,
            ["worker", self.address, "--nthreads", "1", "--nworkers", "1",
             "--host", "127.0.0.1", *LOCAL_HTTP],
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def wait_for_workers(self, count):
        """Returns once `count` workers have joined the scheduler."""
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT) as client:
            client.wait_for_workers(count, timeout=START_TIMEOUT)

    def kill(self, process):
        """Kills a process of the cluster and everything it started."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self):
        """Stops the workers, then the scheduler: each is asked to (SIGTERM),
        then killed if it has not ended within 10 s."""
        for process in [*self.workers, self.scheduler]:
            if process is None or process.poll() is not None:
                continue
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill(process)

    def _spawn(self, log_name, arguments):
        with open(self.logs / log_name, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "dask", *arguments],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )

    def _wait_for_address(self, scheduler_file):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.scheduler.poll() is not None:
                raise RuntimeError(
                    f"dask scheduler exited; see {self.logs / 'scheduler.log'}"
                )
            try:
                return json.loads(scheduler_file.read_text())["address"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.1)
        raise RuntimeError(f"dask scheduler did not start in {START_TIMEOUT} s")


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--logs", default=None, help="default: a temporary folder")
    parser.add_argument("script", help="an experiments/ script that sweeps")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its flags")
    options = parser.parse_args(argv)
    if options.workers < 1:
        parser.error(f"--workers must be >= 1; received {options.workers}")
    # The cluster's processes lead groups of their own, which a signal to
    # this one's group does not reach: a SIGTERM ends the `with` below, which
    # stops them, as Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        with LocalhostCluster(options.workers, options.logs) as cluster:
            print(
                f"Dask scheduler {cluster.address}, {options.workers} workers; "
                f"logs in {cluster.logs}",
                flush=True,
            )
            command = [sys.executable, options.script, *options.args]
            return subprocess.run([*command, "--scheduler", cluster.address]).returncode
    finally:
        signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
