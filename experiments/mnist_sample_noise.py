"""How much of a MNIST run's length-1 test error is its test sample's.

A run is tested on `--eval-sequences` sequences of its own (1000 by
default); at length 1 that is as many single images, and a misread digit
costs far more than a read one, so the MSE of one sample scatters around
the model's error on the whole test set. For each saved addition or
product model given, this measures the squared error of every test image
read alone, then how the MSE of `--sample` images drawn at random spreads,
and writes one JSON summary:

    python experiments/mnist_sample_noise.py RUN [RUN ...] \
        --out results/mnist/sample-noise/summary.json

Nothing is trained. Counting's models are refused: a count's length-1
error is one image's ten class counts, which this does not compute.
"""

import argparse
import json
import sys
from pathlib import Path

from runner.quiet import quiet_start

# Before Keras is imported: TensorFlow's start-up notices hidden, as train.py.
quiet_start(sys.argv[1:])

import keras  # noqa: E402
import numpy as np  # noqa: E402

import nalu_rnn  # noqa: E402, F401  (registers the saved layers)
from runner.results import write_json  # noqa: E402
from tasks.mnist import load_mnist  # noqa: E402
from tasks.mnist import model as mnist_model  # noqa: E402

# The tasks whose length-1 target is the image's digit value.
ONE_VALUE_TASKS = ("mnist_add", "mnist_product")


def image_errors(model, images, labels):
    """The squared error of each image read alone (a sequence of length 1),
    and the mean signed error (the encoder's bias per image)."""
    embeddings = mnist_model.encode_images(model, images)
    alone = np.arange(len(images))[:, None]
    prediction = mnist_model.predict_from_embeddings(model, embeddings, alone)[:, 0]
    error = prediction.astype(np.float64) - labels.astype(np.float64)
    return error**2, float(error.mean())


def sample_spread(squared_errors, sample, draws, seed):
    """The standard deviation of the MSE of `sample` images drawn at random
    (with replacement, as evaluation sequences are), over `draws` draws."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(squared_errors), size=(draws, sample))
    return float(squared_errors[picks].mean(axis=1).std())


def measure(run, results, images, labels, sample, draws):
    """One run's row of the summary, from its saved model and `results`."""
    model = keras.saving.load_model(run / "model.keras", compile=False)
    squared, bias = image_errors(model, images, labels)
    (tested,) = [e["mse"] for e in results["eval"] if e["length"] == 1]
    return {
        "run": str(run),
        "task": results["task"],
        "seed": results["seed"],
        "mse_whole_test_set": float(squared.mean()),
        "mse_tested": tested,
        "bias_per_image": bias,
        "sample_mse_std": sample_spread(squared, sample, draws, results["seed"]),
    }


def _checked_results(parser, runs):
    """Each run's `results.json`, once every run is known to be measurable:
    refused before MNIST is loaded or any model read."""
    checked = []
    for run in runs:
        for name in ("model.keras", "results.json"):
            if not (run / name).is_file():
                parser.error(f"{run}: no {name}")
        results = json.loads((run / "results.json").read_text())
        if results["task"] not in ONE_VALUE_TASKS:
            parser.error(
                f"{run}: a {results['task']} run; this measures "
                + " and ".join(ONE_VALUE_TASKS)
            )
        checked.append(results)
    return checked


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="seed folders of train.py")
    parser.add_argument("--out", type=Path, required=True, help="the summary to write")
    parser.add_argument("--data-dir", default=None, help="MNIST's folder")
    parser.add_argument("--sample", type=int, default=1000, help="images per sample")
    parser.add_argument("--draws", type=int, default=2000, help="samples drawn")
    options = parser.parse_args(argv)
    checked = _checked_results(parser, options.runs)
    images, labels = load_mnist(options.data_dir)["test"]
    rows = []
    for run, results in zip(options.runs, checked, strict=True):
        rows.append(
            measure(run, results, images, labels, options.sample, options.draws)
        )
        print(json.dumps(rows[-1]), file=sys.stderr)
    write_json(
        options.out,
        {
            "sample": options.sample,
            "draws": options.draws,
            "test_images": int(len(images)),
            "runs": rows,
        },
    )


if __name__ == "__main__":
    main()
