"""Many `train.py` runs for the experiments/ scripts, on a Dask cluster.

`run_sweep` trains each `(OUT, flags)` pair whose `OUT/summary.json` is
missing, so a stopped sweep resumes. A run is one Dask task (`train_run`):
one `train.py` process on a worker, in a folder of the worker's, whose
`results.json` and `summary.json` files come back to this process, which
writes them under `OUT`; the workers need no file system in common with
it. A run that fails on its own (exit status 2, a NaN stop) is recorded in
`OUT/failed.json` and not retried; a run whose worker is lost is retried by
Dask on another worker.

By default the cluster is embedded: `jobs` single-threaded workers in this
process, each waiting on its `train.py`. `scheduler` names an existing
cluster instead (`dask scheduler` and `dask worker`, or dask-jobqueue on
HPC: docs/distributed.md). A script gives its user the flags that choose
between them with `add_sweep_flags`.
"""

import contextlib
import hashlib
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner.quiet import quiet_start
from runner.results import FAILED_FILE, write_json

# The train.py of the checkout this package belongs to: on a worker, the
# worker's own.
TRAIN_SCRIPT = Path(__file__).resolve().parents[1] / "train.py"
# Seconds `--scheduler` has to answer. Dask's own default (30 s) would keep
# a mistyped address waiting; a scheduler that is up answers in well under
# a second, even across a cluster.
CONNECT_TIMEOUT = 5
# The log of a run's train.py in the folder it trained in.
LOG_FILE = "train.log"
# Lines of a failed run's log kept in its failed.json.
LOG_TAIL_LINES = 20

# Run first by the train.py process's own Python: asks Linux to kill it
# when the worker thread that started it dies (the worker killed, or
# restarted by its nanny), so that no orphaned run goes on training, into
# a shared folder where its retry trains too. `exec` keeps the request. If
# the worker died before the request was made, the parent is no longer it.
_DIE_WITH_WORKER = (
    "import ctypes, os, sys; "
    "ctypes.CDLL(None).prctl(1, 9); "  # PR_SET_PDEATHSIG, SIGKILL
    "os.getppid() == int(sys.argv[1]) or os._exit(1); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


def train_command(flags):
    """The command line that runs `train.py flags` in a fresh Python.

    Args:
        flags: The `train.py` flags, a list of strings.

    Returns:
        The command, a list of strings: this Python, then this checkout's
        `train.py`, then `flags`.
    """
    return [sys.executable, str(TRAIN_SCRIPT), *flags]


def add_sweep_flags(parser, jobs=1):
    """Adds the flags that say where a script's runs train.

    `--jobs N`: an embedded Dask cluster of `N` workers (the default);
    `--scheduler ADDRESS`: an existing cluster instead; `--checkpoint-dir
    DIR`: a folder every worker reaches, where runs keep their checkpoints.
    `sweep_settings` turns the parsed flags into `run_sweep`'s arguments.

    Args:
        parser: The script's `argparse.ArgumentParser`.
        jobs: The default of `--jobs`. Defaults to `1`.

    Returns:
        The argument group that holds the three flags.

    Example:

    ```python
    parser = argparse.ArgumentParser()
    add_sweep_flags(parser, jobs=2)
    options = parser.parse_args(argv)
    run_sweep(runs, **sweep_settings(options))
    ```
    """
    group = parser.add_argument_group("where the runs train (runner.sweeps)")
    group.add_argument(
        "--jobs",
        type=int,
        default=jobs,
        help="runs trained at once by the embedded Dask cluster, one "
        "single-threaded worker each (unused with --scheduler)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="an existing Dask scheduler (tcp://HOST:8786) whose workers "
        "train the runs, instead of the embedded cluster; one that does not "
        f"answer within {CONNECT_TIMEOUT} s stops the script with exit status 2",
    )
    group.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        default=None,
        help="a folder at the same path on every worker (a shared file "
        "system): each run trains in DIR/<run>/ and keeps its models and "
        "checkpoints there, so a run whose worker is lost resumes on another; "
        "default: a temporary folder on the worker, or with the embedded "
        "cluster the run's own output folder",
    )
    return group


def sweep_settings(options):
    """`run_sweep`'s keyword arguments from the flags of `add_sweep_flags`.

    Args:
        options: The script's parsed flags (`argparse.Namespace`).

    Returns:
        A dict with `jobs`, `scheduler` and `checkpoint_dir`.
    """
    return {
        "jobs": options.jobs,
        "scheduler": options.scheduler,
        "checkpoint_dir": options.checkpoint_dir,
    }


def run_name(out, flags):
    """A run's name, the same on every machine and in every invocation.

    Names its folder under `--checkpoint-dir` and its Dask task, so that a
    retried or re-invoked run finds its checkpoint there.

    Args:
        out: The run's output folder.
        flags: Its `train.py` flags.

    Returns:
        `"<folder name>-<12 hex digits>"`, a hash of the absolute `out` and
        the flags: other flags are another run.
    """
    identity = json.dumps([str(Path(out).resolve()), list(flags)])
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    return f"{Path(out).name}-{digest}"


def add_vectorize_flag(parser):
    """Adds `--no-vectorize`: a script's runs of several seeds train with
    `train.py --vectorize` where it applies (`vectorize_where_it_applies`),
    unless it is given."""
    parser.add_argument(
        "--no-vectorize",
        dest="vectorize",
        action="store_false",
        help="train each run's seeds one after another, not as one vectorised "
        "JAX program (train.py --vectorize, used by default on the JAX backend "
        "for the arithmetic tasks)",
    )


def keras_backend():
    """The Keras backend the runs will use, read as Keras reads it (the
    `KERAS_BACKEND` variable, else `keras.json` in `KERAS_HOME` or
    `~/.keras`, else TensorFlow) without importing Keras."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    try:
        with open(os.path.join(home, "keras.json")) as file:
            return json.load(file).get("backend", "tensorflow")
    except (OSError, ValueError):
        return "tensorflow"


def vectorize_where_it_applies(flags, enabled=True):
    """`flags`, with `--vectorize` where `train.py` can train their seeds as
    one JAX program.

    It applies on the JAX backend (this process's, which the `train.py`
    processes inherit with the environment; a remote cluster's workers must
    run it too) to runs of `--seeds N` (N >= 2) of the arithmetic tasks
    without an option that `--vectorize` refuses (`vectorize_refusal`).
    Anywhere else `flags` are returned as they are, and the seeds train one
    after another: `--vectorize` is a speed-up, never a refusal.

    Args:
        flags: The `train.py` flags of one run, a list of strings.
        enabled: `False` (the script's `--no-vectorize`) returns `flags`.
            Defaults to `True`.

    Returns:
        A new list of flags.
    """
    flags = list(flags)
    if not enabled or "--vectorize" in flags:
        return flags
    if keras_backend() != "jax":
        return flags
    # Parsing imports the tasks, and with them Keras: only now, so that the
    # scripts' --help stays fast, with TensorFlow's start-up notices hidden
    # as train.py hides them.
    quiet_start([])
    from runner.cli import parse_args  # noqa: PLC0415
    from runner.config import vectorize_refusal  # noqa: PLC0415

    try:
        # Flags train.py refuses fail in train.py, with its own message.
        with contextlib.redirect_stderr(io.StringIO()):
            config = parse_args(flags)
    except SystemExit:
        return flags
    if (config.run.seeds or 1) < 2 or vectorize_refusal(config) is not None:
        return flags
    return [*flags, "--vectorize"]


def run_sweep(
    runs,
    jobs=1,
    pin_cores=False,
    scheduler=None,
    checkpoint_dir=None,
    exit_on_failure=True,
):
    """Runs `train.py FLAGS --out OUT` for each `(OUT, FLAGS)` not finished.

    Every run is submitted to the Dask cluster at once; each finishes as
    done (its `results.json` and `summary.json` written under `OUT`) or
    failed (`OUT/failed.json`: its exit status, the reason and the tail of
    its log; its finished seeds are written all the same, and kept by the
    next invocation). Progress goes to stderr (`Progress`).

    Args:
        runs: Iterable of `(out, flags)`: the output folder and the list of
            the other `train.py` flags (with `--seeds`, so that a finished
            run leaves `out/summary.json`).
        jobs: Workers of the embedded cluster, each training one run at a
            time. Unused with `scheduler`. Defaults to `1`.
        pin_cores: Whether each run gets one TensorFlow thread and, with
            the embedded cluster and `jobs > 1`, its worker's own CPU core
            (`taskset`, where installed), so that parallel runs do not slow
            each other down by contention. Defaults to `False`.
        scheduler: The address of an existing Dask scheduler, or `None` for
            the embedded cluster. Defaults to `None`.
        checkpoint_dir: A folder at the same path on every worker, where
            each run trains in a folder of its own (`run_name`) and keeps
            it, so that a run retried elsewhere resumes from its checkpoint;
            `None` for a temporary folder on the worker, deleted once read
            (with the embedded cluster: `out` itself, as `train.py --out
            OUT` would). Defaults to `None`.
        exit_on_failure: Whether failed runs end the sweep with
            `SystemExit`, or are left to the caller in the outcomes (a
            script that counts some failures as results). Defaults to
            `True`.

    Returns:
        One dict per run, in the order of `runs`: `out`, and `state`:
        `"kept"` (finished before), `"done"` or `"failed"` (with `reason`).

    Raises:
        SystemExit: after every run has finished, when some failed, naming
            them (`failure_message`), unless `exit_on_failure` is false;
            with status 2 and one line on stderr, when `scheduler`
            does not answer within `CONNECT_TIMEOUT` seconds.
    """
    if jobs < 1:
        raise SystemExit(f"--jobs must be >= 1; received {jobs}")
    runs = [(Path(out), list(flags)) for out, flags in runs]
    outcomes = [{"out": out, "state": "kept"} for out, _ in runs]
    pending = [i for i, (out, _) in enumerate(runs) if not _finished(out)]
    if not pending:
        return outcomes
    pin_core = pin_cores and scheduler is None and jobs > 1
    with _client(scheduler, jobs) as client:
        from distributed import as_completed

        progress = Progress(len(pending), kept=len(runs) - len(pending))
        progress.start(_describe(client, scheduler))
        futures = {}
        for rank, i in enumerate(pending):
            out, flags = runs[i]
            workdir = _workdir(out, flags, scheduler, checkpoint_dir)
            # The seeds already under OUT travel with the task when it trains
            # elsewhere, so that train.py keeps them instead of training them.
            finished = None if workdir == str(out.resolve()) else _seeds(out)
            future = client.submit(
                train_run,
                flags,
                workdir=workdir,
                finished=finished,
                single_thread=pin_cores,
                pin_core=pin_core,
                key=f"train-{run_name(out, flags)}",
                # Started in the order given, not Dask's.
                priority=-rank,
            )
            futures[future] = i
        for future in as_completed(futures, loop=client.loop):
            i = futures[future]
            try:
                result = future.result()
            except Exception as error:
                # Its workers were lost more often than the scheduler allows
                # (`KilledWorker`), or the task itself broke: failed, too.
                result = _broken(error)
            outcomes[i] = _record(*runs[i], result)
            progress.update(outcomes[i])
        progress.close()
    failed = [o for o in outcomes if o["state"] == "failed"]
    if failed and exit_on_failure:
        raise SystemExit(failure_message(failed, len(runs)))
    return outcomes


def failure_message(failed, total):
    """What a sweep says of its failed runs (the outcomes of `run_sweep`),
    out of `total`: how many, and the first ten with their reasons."""
    named = "\n".join(f"  {o['out']}: {o['reason']}" for o in failed[:10])
    more = f"\n  and {len(failed) - 10} more" if len(failed) > 10 else ""
    return (
        f"{len(failed)} of {total} runs failed (each OUT/{FAILED_FILE} "
        f"says why; the next invocation runs them again):\n{named}{more}"
    )


def train_run(flags, workdir=None, finished=None, single_thread=False, pin_core=False):
    """Runs `train.py FLAGS --out FOLDER`, and returns what it wrote.

    The task of one run of `run_sweep`, run on a Dask worker: its
    configuration (the flags) goes in; the JSON files its `train.py` wrote
    come back, with its exit status. `train.py`'s output goes to
    `FOLDER/train.log`, one `#` line per attempt first.

    Args:
        flags: The `train.py` flags, with `--seeds`, without `--out`.
        workdir: The folder to train in, where an earlier attempt's
            checkpoint is resumed and its finished seeds are kept; `None`
            for a temporary folder, deleted once read. Defaults to `None`.
        finished: `{path: results}`, the `results.json` of seeds finished
            earlier, by path under the folder, written there first (where
            absent) for `train.py` to keep. Defaults to `None`.
        single_thread: Whether `train.py` gets one TensorFlow thread.
            Defaults to `False`.
        pin_core: Whether `train.py` runs on the CPU core numbered as this
            worker (`taskset`; the embedded cluster names its workers 0, 1,
            ...). Defaults to `False`.

    Returns:
        A dict: `status` (the exit status; negative: killed by that
        signal), `reason` (`None` when it is 0; else the error line of the
        log), `files` (`{path: JSON}` of every `results.json` and
        `summary.json` in the folder), `log_tail` (its last lines), `seconds`
        and `worker` (the worker's address).
    """
    scratch = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="nalu-run-") if scratch else workdir)
    worker = _worker()
    start = time.perf_counter()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for relative, results in (finished or {}).items():
            path = folder / relative
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(path, results)
        if (folder / "summary.json").exists():
            # Finished by an earlier attempt whose answer never reached the
            # client: train.py would refuse to overwrite it.
            status = 0
        else:
            status = _train(flags, folder, worker, single_thread, pin_core)
        log_tail = _log_tail(folder / LOG_FILE)
        return {
            "status": status,
            "reason": None if status == 0 else _reason(status, log_tail),
            "files": _read_back(folder),
            "log_tail": log_tail,
            "seconds": round(time.perf_counter() - start, 2),
            "worker": worker.address if worker else None,
        }
    finally:
        if scratch:
            shutil.rmtree(folder, ignore_errors=True)


class Progress:
    """A sweep's done, failed and remaining runs, and the time left.

    On a terminal, one line with a bar, redrawn as runs finish (a failed
    run's reason printed above it); elsewhere (a log, CI), one line per
    finished run. The time left assumes the remaining runs take as long,
    on average, as the finished ones did, with the same parallelism.

    Args:
        total: The runs to train.
        kept: The runs finished before, kept. Defaults to `0`.
        stream: Where to write. Defaults to `None`: `sys.stderr`.
        clock: Seconds, for the time left. Defaults to `time.monotonic`.
    """

    BAR_WIDTH = 24

    def __init__(self, total, kept=0, stream=None, clock=time.monotonic):
        self.total = total
        self.kept = kept
        self.stream = stream or sys.stderr
        self.clock = clock
        self.tty = self.stream.isatty()
        self.done = 0
        self.failed = 0
        self.started = clock()

    def start(self, where):
        """Writes the header line: the runs, and where they train."""
        kept = f" ({self.kept} finished before, kept)" if self.kept else ""
        self._line(f"sweep: {self.total} runs to train{kept} on {where}")
        self._redraw()

    def update(self, outcome):
        """Counts one finished run, an outcome of `run_sweep`."""
        if outcome["state"] == "failed":
            self.failed += 1
        else:
            self.done += 1
        what = f"{outcome['state']} {outcome['out']}"
        if outcome.get("seconds") is not None:
            what += f" ({outcome['seconds']:.1f} s)"
        if outcome["state"] == "failed":
            what += f": {outcome['reason']}"
        if self.tty:
            if outcome["state"] == "failed":
                self._line(what)
            self._redraw()
        else:
            self._line(f"sweep: {self.counts()} | {what}")

    def close(self):
        """Ends the redrawn line on a terminal."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def counts(self):
        """`"N done, N failed, N remaining, ETA T"`."""
        finished = self.done + self.failed
        remaining = self.total - finished
        if finished:
            eta = _duration((self.clock() - self.started) / finished * remaining)
        else:
            eta = "?"
        return (
            f"{self.done} done, {self.failed} failed, {remaining} remaining, ETA {eta}"
        )

    def _redraw(self):
        if not self.tty:
            return
        filled = self.BAR_WIDTH * (self.done + self.failed) // max(self.total, 1)
        bar = "#" * filled + "-" * (self.BAR_WIDTH - filled)
        # \r and "erase line": the bar replaces itself.
        self.stream.write(f"\r\x1b[K[{bar}] {self.counts()}")
        self.stream.flush()

    def _line(self, text):
        prefix = "\r\x1b[K" if self.tty else ""
        self.stream.write(f"{prefix}{text}\n")
        self.stream.flush()


def _duration(seconds):
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def _finished(out):
    return (out / "summary.json").exists()


@contextlib.contextmanager
def _client(scheduler, jobs):
    """A Dask client of `scheduler`'s cluster, or of an embedded one."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SystemExit(
            "runner.sweeps needs Dask: pip install 'dask[distributed]' (in the "
            "[experiments] extra)"
        ) from None
    if scheduler is None:
        # Threads, not processes: a worker only waits on its train.py.
        cluster = LocalCluster(
            n_workers=jobs,
            threads_per_worker=1,
            processes=False,
            # A free port: its HTTP server starts even without a dashboard.
            dashboard_address=":0",
        )
        with cluster, Client(cluster, set_as_default=False) as client:
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except (OSError, ValueError, TypeError) as error:
        # A usage error of the script's: one line, exit status 2.
        reason = " ".join(str(error).split())
        print(
            f"{Path(sys.argv[0]).name}: error: --scheduler {scheduler}: {reason}",
            file=sys.stderr,
        )
        raise SystemExit(2) from None
    with client:
        yield client


def _describe(client, scheduler):
    workers = len(client.scheduler_info()["workers"])
    if scheduler is None:
        return f"an embedded Dask cluster of {workers} workers"
    # Submitted runs wait for workers that have not joined yet.
    waiting = "" if workers else ", waiting for workers"
    return f"the Dask cluster of {scheduler} ({workers} workers now{waiting})"


def _workdir(out, flags, scheduler, checkpoint_dir):
    """Where a run trains: under `checkpoint_dir`, or in `out` itself on the
    embedded cluster (this machine's disk), else on the worker's scratch."""
    if checkpoint_dir is not None:
        return os.path.join(os.path.abspath(checkpoint_dir), run_name(out, flags))
    if scheduler is None:
        return str(out.resolve())
    return None


def _seeds(out):
    return {
        str(path.relative_to(out)): json.loads(path.read_text())
        for path in sorted(out.rglob("results.json"))
    }


def _read_back(folder):
    return {
        str(path.relative_to(folder)): json.loads(path.read_text())
        for name in ("results.json", "summary.json")
        for path in sorted(folder.rglob(name))
    }


def _record(out, flags, result):
    """Writes a finished task's files under `out`; returns its outcome."""
    out.mkdir(parents=True, exist_ok=True)
    # summary.json last: it marks the run finished, so its seeds must be
    # there first should this process stop in between.
    files = result["files"]
    for relative in sorted(files, key=lambda p: Path(p).name == "summary.json"):
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, files[relative])
    failed = out / FAILED_FILE
    outcome = {"out": out, "state": "done", "seconds": result.get("seconds")}
    if result["status"] == 0:
        failed.unlink(missing_ok=True)
        return outcome
    outcome.update(state="failed", reason=result["reason"])
    write_json(
        failed,
        {
            "status": result["status"],
            "reason": result["reason"],
            "command": shlex.join(["train.py", *flags, "--out", str(out)]),
            "worker": result.get("worker"),
            "log_tail": result.get("log_tail", []),
        },
    )
    return outcome


def _broken(error):
    """The result of a task that raised instead of returning."""
    reason = f"{type(error).__name__}: {' '.join(str(error).split())}"
    return {"status": None, "reason": reason, "files": {}, "log_tail": []}


def _worker():
    """The Dask worker running this task, or `None` outside one."""
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


def _train(flags, folder, worker, single_thread, pin_core):
    """Runs `train.py`, its output into `folder/LOG_FILE`; its exit status."""
    command = train_command([*flags, "--out", str(folder)])
    taskset = shutil.which("taskset")
    if pin_core and taskset and worker is not None and isinstance(worker.name, int):
        core = worker.name % (os.cpu_count() or 1)
        command = [taskset, "-c", str(core), *command]
    if sys.platform.startswith("linux"):
        command = [sys.executable, "-c", _DIE_WITH_WORKER, str(os.getpid()), *command]
    env = None
    if single_thread:
        env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    where = worker.address if worker else "no worker"
    header = f"# {where}: train.py {shlex.join(flags)}\n"
    with open(folder / LOG_FILE, "ab+") as log:
        # An attempt killed mid-line (a progress bar) left no newline.
        if log.tell() and not _ends_a_line(log):
            header = "\n" + header
        log.write(header.encode())
        log.flush()
        return subprocess.run(
            command, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        ).returncode


def _ends_a_line(log):
    log.seek(-1, os.SEEK_END)
    return log.read(1) == b"\n"


def _log_tail(path, lines=LOG_TAIL_LINES):
    """The last `lines` lines of the latest attempt in a run's log."""
    try:
        with open(path, "rb") as log:
            # The end is enough, even of a long log of progress bars.
            log.seek(max(0, log.seek(0, os.SEEK_END) - 16384))
            text = log.read().decode(errors="replace")
    except OSError:
        return []
    tail = [line.rstrip() for line in text.replace("\r", "\n").splitlines()]
    tail = [line for line in tail if line]
    headers = [i for i, line in enumerate(tail) if line.startswith("# ")]
    if headers:
        tail = tail[headers[-1] + 1 :]
    return tail[-lines:]


def _reason(status, log_tail):
    """Why a run failed: train.py's own error line, where it wrote one."""
    if status < 0:
        try:
            return f"train.py killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"train.py killed by signal {-status}"
    errors = [line for line in log_tail if line.startswith("train.py:")]
    if errors:
        return errors[-1]
    return log_tail[-1] if log_tail else f"train.py exited with status {status}"
