"""Speed and memory of the MNIST sequence models.

Measures, for the default `train.py --task mnist_add` model (or `--task`,
`--cell`):

* training throughput: images per second of `model.fit` on the real
  `tf.data` pipeline at the training length, after a warm-up;
* evaluation of `--eval-sequences` test sequences per length: encode-once
  (each test image through the ConvNet once, then only the recurrent head)
  against naive evaluation (the whole model on every image of every
  sequence), the latter timed on `--naive-sequences` sequences and scaled
  linearly, since it is too slow to run in full at length 10000;
* peak resident memory (the process's maximum RSS after each phase);
* with `--evaluate-model PATH`: the wall time of the whole process
  `train.py --task TASK --evaluate PATH --eval-lengths 1000,10000`;
* with `--time-to-target`: the training time of the full default recipe at
  growing step budgets until `mnist_add` reaches relative error <= 0.5% at
  length 1000 (the MNIST issue's target).

    NALU_MNIST_DIR=../shared/mnist python bench/mnist.py

Writes `bench/results/mnist-<backend>.json` (or `--out`).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from runner.quiet import quiet_start

# Before Keras is imported: TensorFlow's start-up notices hidden, as train.py.
quiet_start(sys.argv[1:])

import keras
import numpy as np

from runner import cli, run
from runner.results import command_line
from runner.sweeps import train_command
from tasks import mnist
from tasks.mnist.experiment import MNISTExperiment, sequence_metrics
from tasks.mnist.model import encode_images, predict_from_embeddings

TARGET_RELATIVE_ERROR = 0.005
# bench/results of this checkout, whatever the working folder.
RESULTS_DIR = Path(__file__).resolve().parent / "results"


def peak_rss_mib():
    # ru_maxrss is in KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _int_list(text):
    return [int(v) for v in text.split(",")]


def experiment_config(args, steps=None):
    argv = ["--task", args.task, "--cell", args.cell, "--seed", "0"]
    if steps is not None:
        argv += ["--steps", str(steps)]
    if args.data_dir:
        argv += ["--data-dir", args.data_dir]
    return cli.parse_args(argv + ["--quiet"])


def training_throughput(exp, args):
    length, batch_size = exp.config.data.train_length, exp.config.optim.batch_size
    model = exp.build_model()
    exp.compile(model)
    data = mnist.training_dataset(
        *exp.train_split, exp.target, length, batch_size, seed=0
    )
    # The first fit traces and compiles the step; time only what follows.
    model.fit(data, epochs=1, steps_per_epoch=args.warmup_steps, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=args.train_steps, verbose=0)
    seconds = time.perf_counter() - start
    images = args.train_steps * batch_size * length
    return model, {
        "steps": args.train_steps,
        "batch_size": batch_size,
        "length": length,
        "seconds": seconds,
        "images_per_second": images / seconds,
        "peak_rss_mib": peak_rss_mib(),
    }


def evaluation_times(model, exp, args):
    images, labels = exp.test_split
    start = time.perf_counter()
    embeddings = encode_images(model, images)
    encode_seconds = time.perf_counter() - start
    rows = []
    for length in args.eval_lengths:
        indices, targets = mnist.evaluation_arrays(
            images, labels, exp.target, length, args.eval_sequences, seed=length
        )
        predict_from_embeddings(model, embeddings, indices[:2])
        start = time.perf_counter()
        fast = predict_from_embeddings(model, embeddings, indices)
        head_seconds = time.perf_counter() - start

        few = indices[: args.naive_sequences]
        sequences = images[few].astype("float32")[..., None] / 255.0
        batch = max(1, min(len(few), 20000 // length))
        model.predict(sequences[:1], verbose=0)
        start = time.perf_counter()
        naive = model.predict(sequences, batch_size=batch, verbose=0)
        naive_seconds = time.perf_counter() - start
        naive = naive[:, -1] if naive.ndim == 3 else naive
        rows.append(
            {
                "length": length,
                "sequences": args.eval_sequences,
                "encode_once_seconds": encode_seconds + head_seconds,
                "encode_seconds": encode_seconds,
                "head_seconds": head_seconds,
                "naive_sequences_timed": len(few),
                "naive_seconds_scaled": naive_seconds * args.eval_sequences / len(few),
                "max_abs_difference": float(np.max(np.abs(naive - fast[: len(few)]))),
                "metrics": sequence_metrics(fast, targets),
                "peak_rss_mib": peak_rss_mib(),
            }
        )
        print(
            f"length {length}: encode-once {rows[-1]['encode_once_seconds']:.2f} s,"
            f" naive {rows[-1]['naive_seconds_scaled']:.1f} s (scaled from "
            f"{len(few)} sequences)",
            flush=True,
        )
    return rows


def evaluate_process_seconds(args):
    flags = ["--task", args.task, "--evaluate", args.evaluate_model,
             "--eval-lengths", "1000,10000", "--quiet", "--force"]  # fmt: skip
    if args.data_dir:
        flags += ["--data-dir", args.data_dir]
    command = train_command(flags)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        subprocess.run(command + ["--out", out], check=True)
        seconds = time.perf_counter() - start
        results = json.loads((Path(out) / "results.json").read_text())
    return {"command": " ".join(command[1:]), "seconds": seconds, **results}


def time_to_target(args):
    attempts = []
    for steps in args.target_budgets:
        config = experiment_config(args, steps=steps).replace(eval_lengths=(1000,))
        with tempfile.TemporaryDirectory() as out:
            results = run.run(config, out)
        (entry,) = results["eval"]
        reached = entry["relative_error"] <= TARGET_RELATIVE_ERROR
        attempts.append(
            {
                "steps": steps,
                "train_seconds": results["train_seconds"],
                "relative_error_1000": entry["relative_error"],
                "target_relative_error": TARGET_RELATIVE_ERROR,
                "reached": reached,
            }
        )
        print(
            f"{steps} steps: {results['train_seconds']:.0f} s of training, "
            f"relative error at 1000 = {entry['relative_error']:.4%}",
            flush=True,
        )
        if reached:
            break
    return attempts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="mnist_add", choices=sorted(mnist.TASKS))
    parser.add_argument("--cell", default="nac")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--train-steps", type=int, default=100)
    parser.add_argument("--eval-lengths", type=_int_list, default=[100, 1000, 10000])
    parser.add_argument("--eval-sequences", type=int, default=1000)
    parser.add_argument("--naive-sequences", type=int, default=10)
    parser.add_argument("--evaluate-model", default=None)
    parser.add_argument("--time-to-target", action="store_true")
    parser.add_argument(
        "--target-budgets", type=_int_list, default=[250, 500, 1000, 2000]
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)

    config = experiment_config(args)
    # As train.py does by default, so the times are those of its runs.
    cli.set_determinism(config.infra.deterministic)
    exp = MNISTExperiment(config)
    model, throughput = training_throughput(exp, args)
    print(
        f"training: {throughput['images_per_second']:.0f} images/s "
        f"({throughput['steps']} steps of {throughput['batch_size']} x "
        f"{throughput['length']} images)",
        flush=True,
    )
    result = {
        # tables.py lists it under the table it builds from this record.
        "command": command_line("bench/mnist.py", argv, keras.backend.backend()),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
        },
        "versions": run.versions(),
        "backend": keras.backend.backend(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "training": throughput,
        "evaluation": evaluation_times(model, exp, args),
    }
    if args.evaluate_model:
        result["evaluate_process"] = evaluate_process_seconds(args)
        print(
            f"train.py --evaluate at 1000,10000: "
            f"{result['evaluate_process']['seconds']:.1f} s",
            flush=True,
        )
    if args.time_to_target:
        result["time_to_target"] = time_to_target(args)
    result["peak_rss_mib"] = peak_rss_mib()
    default = RESULTS_DIR / f"mnist-{keras.backend.backend()}.json"
    out = Path(args.out) if args.out else default
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"Wrote {out}")


if __name__ == "__main__":
    main()
