"""`experiments/dask_localhost.py`, and through its cluster (`dask
scheduler` and two `dask worker` processes on localhost) the sweeps of
`runner.sweeps` on a real cluster: one worker killed mid-run, and a
scheduler that is not there."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest

from runner.results import summarize
from tests.support.scripts import ROOT, load_script

# Slow (a cluster of processes, train.py runs): TensorFlow only in CI.
pytestmark = pytest.mark.slow

# The workers import this checkout, and each train.py uses one thread.
WORKER_ENV = dict(
    os.environ,
    PYTHONPATH=str(ROOT),
    TF_NUM_INTRAOP_THREADS="1",
    TF_NUM_INTEROP_THREADS="1",
)


@pytest.fixture(scope="module")
def dask_localhost():
    return load_script("experiments/dask_localhost.py")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_py_of(process):
    """The command lines of the `train.py` processes `process` started."""
    found = []
    for child in process.children(recursive=True):
        # A process may end while it is looked at.
        with contextlib.suppress(psutil.Error):
            command = child.cmdline()
            if str(ROOT / "train.py") in command:
                found.append(command)
    return found


def test_a_sweep_survives_a_worker_killed_mid_run(dask_localhost, tmp_path):
    success_rate = load_script("experiments/success_rate.py")
    out, shared = tmp_path / "out", tmp_path / "shared"
    targets = [out / "recurrent" / f"{op}-{unit}"
               for unit in ("nac", "nau") for op in ("add", "sub")]  # fmt: skip
    killed = {}

    def kill_at_midpoint(cluster):
        # Half the runs finished, and a worker in the middle of another:
        # whichever worker that is (Dask may give one worker the rest).
        workers = [psutil.Process(w.pid) for w in cluster.workers]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            finished = sum((t / "summary.json").exists() for t in targets)
            for index, worker in enumerate(workers if finished >= 2 else []):
                for command in _train_py_of(worker):
                    folder = command[command.index("--out") + 1]
                    # Not in the last moments of the run, which has written
                    # its summary: a retry would find it and not train again.
                    if not os.path.exists(os.path.join(folder, "summary.json")):
                        killed["folder"], killed["worker"] = folder, index
                        cluster.kill(cluster.workers[index])
                        return
            time.sleep(0.1)

    with dask_localhost.LocalhostCluster(2, tmp_path / "logs", WORKER_ENV) as cluster:
        killer = threading.Thread(target=kill_at_midpoint, args=(cluster,))
        killer.start()
        try:
            rows = success_rate.main(
                ["--tasks", "recurrent", "--units", "nac,nau", "--ops", "add,sub",
                 "--seeds", "1", "--steps", "200", "--out", str(out),
                 "--train-args", "--eval-lengths 10,100 --eval-sequences 50",
                 "--scheduler", cluster.address, "--checkpoint-dir", str(shared)]
            )  # fmt: skip
        finally:
            killer.join()
        assert "worker" in killed, "no worker was killed"
        assert cluster.workers[killed["worker"]].poll() is not None
    # The run that was killed trained again, on the other worker.
    with open(os.path.join(killed["folder"], "train.log")) as log:
        workers = [line[2:].split(": train.py")[0] for line in log if line[:2] == "# "]
    assert len(workers) == 2 and workers[0] != workers[1]
    # Every run present exactly once, its summary that of its seed.
    assert [(r["op"], r["unit"], r["seeds"]) for r in rows] == [
        ("add", "nac", [0]), ("sub", "nac", [0]),
        ("add", "nau", [0]), ("sub", "nau", [0]),
    ]  # fmt: skip
    for target in targets:
        assert sorted(p.name for p in target.iterdir()) == ["seed_0", "summary.json"]
        results = json.loads((target / "seed_0" / "results.json").read_text())
        summary = json.loads((target / "summary.json").read_text())
        assert f"{summary['task']}-{summary['cell']}" == target.name
        assert results["seed"] == 0 and results["steps"] == 200
        assert summary == json.loads(json.dumps(summarize([results])))
    # Each trained in a folder of its own on the shared path.
    trained = sorted(p.name.rsplit("-", 1)[0] for p in shared.iterdir())
    assert trained == sorted(t.name for t in targets)


def test_an_unreachable_scheduler_stops_the_script_with_one_line(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = subprocess.run(
        [sys.executable, str(ROOT / "experiments" / "success_rate.py"),
         "--scheduler", address, "--out", str(tmp_path)],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"success_rate.py: error: --scheduler {address}:")


def test_the_client_gives_up_on_a_scheduler_after_its_connect_timeout(monkeypatch):
    # How soon the script gives up is the client's timeout, not a clock
    # read around a subprocess on a busy machine.
    distributed = pytest.importorskip("distributed")
    from runner import sweeps

    asked = {}

    def refused(address, **kwargs):
        asked.update(kwargs, address=address)
        raise OSError("Timed out trying to connect")

    monkeypatch.setattr(distributed, "Client", refused)
    with pytest.raises(SystemExit) as stopped:
        with sweeps._client("tcp://127.0.0.1:1", jobs=1):
            pass
    assert stopped.value.code == 2
    assert asked["address"] == "tcp://127.0.0.1:1"
    assert asked["timeout"] == sweeps.CONNECT_TIMEOUT <= 10


def test_the_script_runs_a_script_on_its_cluster(dask_localhost, tmp_path):
    # A stand-in for an experiments/ script: its flags, and an exit status.
    script = tmp_path / "sweep.py"
    script.write_text(
        "import json, sys\n"
        f"open({str(tmp_path / 'argv.json')!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
        "sys.exit(3)\n"
    )
    status = dask_localhost.main(
        ["--workers", "1", "--logs", str(tmp_path / "logs"), str(script), "--a", "b"]
    )
    assert status == 3
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[:3] == ["--a", "b", "--scheduler"]
    assert argv[3].startswith("tcp://127.0.0.1:")
    # The cluster is gone with the script.
    assert not [
        p
        for p in psutil.process_iter(["cmdline"])
        if argv[3] in (p.info["cmdline"] or [])
        or str(tmp_path / "logs" / "scheduler.json") in (p.info["cmdline"] or [])
    ]
