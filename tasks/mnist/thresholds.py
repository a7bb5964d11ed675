"""Madsen & Johansen's success thresholds of the MNIST tasks.

Their criterion (Madsen & Johansen 2020, appendix "Sequential MNIST"): a
reference model whose arithmetic layer is fixed at the exact solution, with
only the image encoder trained, is run over several seeds; at each length,
the one-sided 99% upper confidence bound of its mean test MSE is the
threshold (`tasks.success.reference_threshold`). A model succeeds at a
length when its test MSE there is below it.

The reference MSEs are measured by `experiments/mnist_reference.py` (the
command is stored beside them) and kept in `reference.json`, by task
and encoder. A model is judged against the reference of its own encoder
where one was measured, else against that of `BAR_ENCODER` (the default
encoder, whose exact-head error is the lowest measured): every row of a
table then meets the same bar, and no encoder gets a looser one for being
worse. A task or length without measurements has no threshold, and its
results carry no `success`.
"""

import copy
import json
import os

from tasks.success import held_out_success, reference_threshold

REFERENCE_FILE = os.path.join(os.path.dirname(__file__), "reference.json")
# One-sided level of the bound, theirs.
ALPHA = 0.01
# The encoder whose reference judges an encoder without its own.
BAR_ENCODER = "classes"


def read_reference(path=None):
    """The measured entries, `{task: {encoder: ...}}`; `{}` without a file.

    Args:
        path: The reference file; `None` (default) for `REFERENCE_FILE`.
    """
    path = REFERENCE_FILE if path is None else path
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return json.load(f)["reference"]


def reference_encoder(task, encoder, path=None):
    """The encoder whose reference judges `task` with `encoder`: its own if
    measured, else `BAR_ENCODER` if that is, else `None`.

    Args:
        task: A MNIST task name.
        encoder: `"classes"` or `"linear"` (`--encoder`).
        path: The reference file; `None` (default) for `REFERENCE_FILE`.
    """
    return _judge(read_reference(path).get(task, {}), encoder)


def thresholds(task, encoder, path=None):
    """`{length: threshold MSE}` for `task` with `encoder` (judged by the
    reference `reference_encoder` names); `{}` if there is none.

    Args:
        task: A MNIST task name.
        encoder: `"classes"` or `"linear"` (`--encoder`).
        path: The reference file; `None` (default) for `REFERENCE_FILE`.
    """
    measured = read_reference(path).get(task, {})
    judge = _judge(measured, encoder)
    if judge is None:
        return {}
    return {
        int(length): reference_threshold(errors, ALPHA)
        for length, errors in measured[judge]["mse"].items()
    }


def held_out(task, encoder, path=None):
    """`{length: [bool per seed]}`: whether each seed of `task`'s reference
    with `encoder` passes the bar of the other seeds (`held_out_success`);
    `{}` without a reference of that encoder, or with fewer than 3 seeds.

    Args:
        task: A MNIST task name.
        encoder: `"classes"` or `"linear"`, the reference's own encoder.
        path: The reference file; `None` (default) for `REFERENCE_FILE`.
    """
    entry = read_reference(path).get(task, {}).get(encoder)
    if entry is None:
        return {}
    mse = entry["mse"]
    if min(len(errors) for errors in mse.values()) < 3:
        return {}
    return {
        int(length): held_out_success(errors, ALPHA) for length, errors in mse.items()
    }


def _judge(measured, encoder):
    """Of one task's `{encoder: entry}`, the encoder that judges `encoder`."""
    for candidate in (encoder, BAR_ENCODER):
        if candidate in measured:
            return candidate
    return None


# The options of a run that say nothing of its recipe: which run it is,
# where it writes, how it reports, and the head's start and freezing, which
# set a reference apart from the runs it judges.
NOT_RECIPE = {
    "run": ("seed", "seeds", "out", "evaluate", "force", "cell"),
    "data": ("data_dir", "tfds_dir"),
    "model": ("solved_head", "head_init", "units"),
    # The head's pulls and snaps: the reference's head is frozen.
    "regularization": (
        "sparsity",
        "sparsity_start",
        "sparsity_end",
        "sparsity_stop",
        "readout_sparsity_start",
        "saturation",
        "gate_snap",
        "weight_snap",
        "harden",
        # The arithmetic family's, refused on MNIST.
        "pair_pull",
        "harden_tolerance",
    ),
    # The head's rate after its snap: the reference's head is frozen (the
    # class values of `--encoder classes` addition, which it would also
    # reach, are judged by an earlier recipe's reference in any case).
    "optim": ("head_rate_stop", "head_rate_after_stop"),
    "evaluation": ("eval_lengths", "eval_sequences"),
    "infra": ("quiet", "verbose", "tensorboard", "export", "strategy"),
}


# The values of a field newer than a reference that count as its absence.
NEW_FIELD_OFF = (None, False, 0, 0.0)


def recipe_of(run_config):
    """The part of a results.json `run_config` that is the run's recipe."""
    return {
        group: {k: v for k, v in values.items() if k not in NOT_RECIPE.get(group, ())}
        for group, values in run_config.items()
    }


def same_recipe(task, encoder, run_config, path=None):
    """Whether `run_config` ran the recipe of the reference that judges it.

    `None` when there is no reference, or it recorded no recipe.
    """
    measured = read_reference(path).get(task, {})
    judge = _judge(measured, encoder)
    if judge is None or "recipe" not in measured[judge]:
        return None
    stored = measured[judge]["recipe"]
    recipe = recipe_of(run_config)
    # A field newer than the reference is its recipe only at the value that
    # leaves training as it was then, off (every later field started so).
    for group, values in recipe.items():
        known = stored.get(group, {})
        for key in [k for k in values if k not in known]:
            if values[key] in NEW_FIELD_OFF:
                del values[key]
    return recipe == stored


def judge(results, path=None):
    """A MNIST `results.json` dict judged again against the reference file.

    A reference measured after a run (or remeasured) changes its bars, not
    its errors: each length's `success` and `success_raw` are its stored
    `mse` and `mse_raw` (after and before hardening) compared with the new
    threshold, and the run's `success`, `success_raw`,
    `success_reference` and `success_reference_same_recipe` follow. A
    length without a threshold loses its verdict.

    Args:
        results: A MNIST run's `results.json`, as a dict (not changed).
        path: The reference file; `None` (default) for `REFERENCE_FILE`.

    Returns:
        The judged copy.
    """
    results = copy.deepcopy(results)
    config = results["run_config"]
    task, encoder = results["task"], config["model"]["encoder"]
    bars = thresholds(task, encoder, path)
    judged = {"": [], "_raw": []}
    for entry in results["eval"]:
        for key in ("success_threshold_mse", "success", "success_raw"):
            entry.pop(key, None)
        threshold = bars.get(int(entry["length"]))
        if threshold is None:
            continue
        entry["success_threshold_mse"] = threshold
        for suffix in judged:
            mse = entry.get("mse" + suffix, entry["mse"])
            entry["success" + suffix] = bool(mse < threshold)
            judged[suffix].append(entry["success" + suffix])
    for suffix, verdicts in judged.items():
        results.pop("success" + suffix, None)
        if verdicts:
            results["success" + suffix] = all(verdicts)
    results["success_reference"] = reference_encoder(task, encoder, path)
    results["success_reference_same_recipe"] = same_recipe(task, encoder, config, path)
    return results
