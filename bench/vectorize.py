"""Runs per hour of `train.py --seeds N --vectorize` against one process per seed.

Two cases, each at its recipe's full budget:

* `static_nau_add`: the static NAU on `add` of two inputs (`--static
  --cell nau --input-size 2 --subset-ratio 0.5 --overlap-ratio 0`: `a` is
  one input, `b` the other), batches of 128, 10^4 steps (the static NAU
  recipe);
* `recurrent_nalu_mul`: the recurrent NALU on `mul` under its recipe
  (batches of 512, 3 * 10^4 steps).

and three ways to train their seeds:

* `per_seed`: one `train.py --seed K` process per seed, two at once, each
  pinned to its own core (`taskset`, where installed) with one thread;
* `vectorized_N`: one `train.py --seeds N --vectorize` process, one
  thread (`--xla_cpu_multi_thread_eigen=false`), for each `N` of `--n`;
* `stable_nalu` (`static_nau_add` only, with `--peer-python`): the
  reference implementation's `experiments/simple_function_static.py`
  (Madsen & Johansen; `--layer-type ReRegualizedLinearNAC`, the NAU), one
  process per seed, two at once, one torch thread each. Its last step,
  saving the model with `torch.save`, fails with today's torch and
  tensorboardX (the writer's queue does not pickle), after training and
  evaluation: a peer process that printed `finished:` counts as done.

A run's wall time is the whole process's (start to exit), so it counts
everything a sweep pays for a run: start-up, compilation (the static
recipe's sparsity ramp recompiles the step some 20 times), training,
evaluation and hardening. Where it is affordable a way runs at the full
budget and is measured: every static way, and the recurrent runs one per
process. The vectorised recurrent runs would take hours at 3 * 10^4
steps, so they run at two short step counts (`--short-steps`, S1 < S2)
and their wall time is extrapolated linearly in the steps, `wall(steps) =
fixed + per_step * steps`, the fixed part and the per-step part both
measured. (Two short points for the cheap ways drown in this shared
machine's noise: their per-step part is a few seconds.) Runs per hour:
`parallel * seeds * 3600 / wall(full)`, with `parallel` processes at once
(two per-seed processes; one vectorised process, which leaves the second
core to other work). Peak memory: each process's maximum resident set
(`getrusage` of the child, `wait4`).

    KERAS_BACKEND=jax python bench/vectorize.py --short-steps 500,1500 --n 25,100 \\
        --peer-python PEER_VENV/bin/python \\
        --peer-repo PATH/TO/stable-nalu

Writes `bench/results/vectorize.json` (or `--out`) and prints a table.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
CASES = {
    "static_nau_add": {
        "flags": [
            "--task", "add", "--static", "--cell", "nau", "--input-size", "2",
            "--subset-ratio", "0.5", "--overlap-ratio", "0", "--batch-size", "128",
        ],
        "full_steps": 10000,
        "extrapolated": (),
    },
    "recurrent_nalu_mul": {
        "flags": ["--task", "mul", "--cell", "nalu"],
        "full_steps": 30000,
        "extrapolated": ("vectorized",),
    },
}  # fmt: skip
# The reference's NAU on the same problem: two inputs, a and b one each.
PEER_FLAGS = [
    "--layer-type", "ReRegualizedLinearNAC", "--operation", "add",
    "--input-size", "2", "--subset-ratio", "0.5", "--overlap-ratio", "0",
    "--num-subsets", "2", "--batch-size", "128", "--no-cuda",
]  # fmt: skip
ONE_THREAD = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}


def _environment(extra=None):
    env = dict(os.environ, **ONE_THREAD, PYTHONPATH=str(ROOT))
    env.update(extra or {})
    env.setdefault("KERAS_BACKEND", "jax")
    return env


def run_processes(commands, parallel, env, cwd, finished=None):
    """Runs `commands`, `parallel` at a time, each on core `i % parallel`.

    A process that fails is an error, unless its output holds `finished`
    (the peer's last line before it saves its model, which fails).

    Returns:
        `(elapsed seconds of them all, [(wall seconds, max RSS MiB) each])`.
    """
    taskset = shutil.which("taskset")
    pending = list(enumerate(commands))
    running = {}
    measured = [None] * len(commands)
    started = time.perf_counter()
    free = list(range(parallel))
    while pending or running:
        while pending and free:
            index, command = pending.pop(0)
            core = free.pop(0)
            if taskset and parallel > 1:
                command = [taskset, "-c", str(core % (os.cpu_count() or 1)), *command]
            log = tempfile.TemporaryFile()
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
            running[process.pid] = (index, core, log, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        index, core, log, start = running.pop(pid)
        wall = time.perf_counter() - start
        log.seek(0)
        output = log.read().decode(errors="replace")
        log.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0 and not (finished and finished in output):
            raise SystemExit(
                f"failed ({code}): {' '.join(commands[index])}\n{output[-2000:]}"
            )
        measured[index] = (wall, usage.ru_maxrss / 1024)
        free.append(core)
    return time.perf_counter() - started, measured


def train_commands(case, mode, seeds, steps, out):
    flags = [*CASES[case]["flags"], "--steps", str(steps), "--quiet"]
    train = [sys.executable, str(ROOT / "train.py"), *flags]
    if mode == "per_seed":
        return [
            [*train, "--seed", str(k), "--out", str(out / f"seed_{k}")]
            for k in range(seeds)
        ]
    return [[*train, "--seeds", str(seeds), "--vectorize", "--out", str(out)]]


def peer_commands(python, repo, seeds, steps):
    script = str(Path(repo) / "experiments" / "simple_function_static.py")
    return [
        [python, script, *PEER_FLAGS, "--seed", str(k), "--max-iterations", str(steps)]
        for k in range(seeds)
    ]


def measure(
    commands_at, parallel, runs_per_command, step_counts, env, cwd, finished=None
):
    """One configuration at each of `step_counts`: wall time per process
    (mean), peak memory, and the line through them."""
    points = []
    for steps in step_counts:
        commands = commands_at(steps)
        elapsed, measured = run_processes(commands, parallel, env, cwd, finished)
        walls = [wall for wall, _ in measured]
        points.append(
            {
                "steps": steps,
                "processes": len(measured),
                "elapsed_seconds": round(elapsed, 2),
                "wall_seconds_per_process": round(sum(walls) / len(walls), 2),
                "max_rss_mib": round(max(rss for _, rss in measured), 1),
            }
        )
    entry = {
        "points": points,
        "parallel": parallel,
        "runs_per_process": runs_per_command,
        "max_rss_mib": max(p["max_rss_mib"] for p in points),
    }
    if len(points) == 2:
        (s1, w1), (s2, w2) = [
            (p["steps"], p["wall_seconds_per_process"]) for p in points
        ]
        per_step = (w2 - w1) / (s2 - s1)
        entry["fixed_seconds"] = round(w1 - per_step * s1, 2)
        entry["seconds_per_step"] = per_step
    return entry


def runs_per_hour(entry, full_steps):
    """Adds the wall time of a run at `full_steps` (measured, or
    extrapolated from two short points) and the runs per hour."""
    at_full = [p for p in entry["points"] if p["steps"] == full_steps]
    if at_full:
        wall = at_full[0]["wall_seconds_per_process"]
        entry["wall_at_full_steps"] = "measured"
    else:
        wall = entry["fixed_seconds"] + entry["seconds_per_step"] * full_steps
        entry["wall_at_full_steps"] = "extrapolated"
    entry["wall_seconds_at_full_steps"] = round(wall, 1)
    entry["runs_per_hour"] = round(
        entry["parallel"] * entry["runs_per_process"] * 3600 / wall, 1
    )
    return entry


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument(
        "--short-steps",
        default="500,1500",
        help="S1,S2: the step counts of the ways extrapolated to the full budget",
    )
    parser.add_argument("--n", default="25,100", help="seeds of --vectorize")
    parser.add_argument(
        "--per-seed", type=int, default=4, help="per-seed processes measured"
    )
    parser.add_argument("--peer-python", help="a Python with torch (stable-nalu)")
    parser.add_argument("--peer-repo", help="a stable-nalu checkout (its work tree)")
    parser.add_argument(
        "--peer-pythonpath",
        help="the peer's PYTHONPATH (default: --peer-repo), e.g. with a folder "
        "of stubs for the modules it imports and the static task never uses",
    )
    parser.add_argument("--out", default=str(RESULTS_DIR / "vectorize.json"))
    args = parser.parse_args(argv)
    short = [int(s) for s in args.short_steps.split(",")]
    if len(short) != 2 or short[0] >= short[1]:
        parser.error("--short-steps takes two step counts, S1 < S2")
    sizes = [int(n) for n in args.n.split(",")]
    env = _environment()
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for case in args.cases.split(","):
            full = CASES[case]["full_steps"]
            extrapolated = CASES[case]["extrapolated"]

            def steps_of(way, full=full, extrapolated=extrapolated):
                return short if way in extrapolated else [full]

            rows = {}

            def per_seed_at(steps, case=case):
                out = scratch / case / f"per_seed-{steps}"
                return train_commands(case, "per_seed", args.per_seed, steps, out)

            rows["per_seed"] = measure(
                per_seed_at, 2, 1, steps_of("per_seed"), env, ROOT
            )
            for n in sizes:

                def vectorized_at(steps, case=case, n=n):
                    out = scratch / case / f"vectorized_{n}-{steps}"
                    return train_commands(case, "vectorized", n, steps, out)

                rows[f"vectorized_{n}"] = measure(
                    vectorized_at, 1, n, steps_of("vectorized"), env, ROOT
                )
            if case == "static_nau_add" and args.peer_python:
                peer_env = _environment(
                    {
                        "TENSORBOARD_DIR": str(scratch / "tb"),
                        "SAVE_DIR": str(scratch / "save"),
                        "PYTHONPATH": args.peer_pythonpath or args.peer_repo,
                    }
                )

                def peer_at(steps):
                    return peer_commands(
                        args.peer_python, args.peer_repo, args.per_seed, steps
                    )

                rows["stable_nalu"] = measure(
                    peer_at, 2, 1, steps_of("peer"), peer_env, scratch, "finished:"
                )
            for entry in rows.values():
                runs_per_hour(entry, full)
            base = rows["per_seed"]["runs_per_hour"]
            for entry in rows.values():
                entry["speed_up"] = round(entry["runs_per_hour"] / base, 2)
            results[case] = {"full_steps": full, "rows": rows}
            _print(case, results[case])
    record = {
        "command": "python bench/vectorize.py " + " ".join(argv or sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "backend": env["KERAS_BACKEND"],
        "short_steps": short,
        "cases": results,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"Wrote {args.out}")
    return record


def _print(case, result):
    print(f"\n{case}: runs per hour at {result['full_steps']} steps")
    header = ("way", "runs/h", "x per-seed", "s per process", "at full", "max RSS MiB")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for name, e in result["rows"].items():
        cells = (
            name,
            f"{e['runs_per_hour']:.1f}",
            f"{e['speed_up']:.2f}",
            f"{e['wall_seconds_at_full_steps']:.0f}",
            e["wall_at_full_steps"],
            f"{e['max_rss_mib']:.0f}",
        )
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
