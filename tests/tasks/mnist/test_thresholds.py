"""Madsen & Johansen's MNIST success thresholds (`tasks.mnist.thresholds`),
from the reference measurements in `reference.json`."""

import json
from pathlib import Path

import pytest

from tasks.mnist import thresholds
from tasks.success import reference_threshold


def test_mnist_thresholds_come_from_the_reference_file(tmp_path):
    path = tmp_path / "reference.json"
    mse = {"1": [0.1, 0.2, 0.3], "10": [1.0, 1.5, 2.0]}
    reference = {"mnist_add": {"classes": {"steps": 5, "seeds": [0, 1, 2], "mse": mse}}}
    path.write_text(json.dumps({"reference": reference}))
    found = thresholds.thresholds("mnist_add", "classes", path=str(path))
    assert found == {
        1: pytest.approx(reference_threshold(mse["1"])),
        10: pytest.approx(reference_threshold(mse["10"])),
    }
    # An encoder without its own reference meets the default encoder's bar.
    assert thresholds.thresholds("mnist_add", "linear", path=str(path)) == found
    assert thresholds.reference_encoder("mnist_add", "linear", str(path)) == ("classes")
    linear = {"linear": {"mse": {"1": [1.0, 2.0]}}}
    reference["mnist_add"].update(linear)
    path.write_text(json.dumps({"reference": reference}))
    assert set(thresholds.thresholds("mnist_add", "linear", str(path))) == {1}
    assert thresholds.thresholds("mnist_count", "classes", str(path)) == {}
    assert thresholds.thresholds("mnist_add", "classes", str(tmp_path)) == {}


def test_the_packaged_reference_gives_thresholds_to_the_default_encoder():
    # The file ships beside the module (setup.cfg's package data).
    where = Path(thresholds.REFERENCE_FILE).parts[-3:]
    assert where == ("tasks", "mnist", "reference.json")
    for task in ("mnist_count", "mnist_add"):
        found = thresholds.thresholds(task, "classes")
        assert found and all(value > 0 for value in found.values())
        assert thresholds.reference_encoder(task, "linear") == "classes"


def test_a_judged_run_knows_whether_its_recipe_is_the_references(tmp_path):
    from runner.config import RunConfig

    judged = RunConfig.for_task("mnist_add", seed=3)
    reference = RunConfig.for_task("mnist_add", seed=1004, solved_head=True)
    path = tmp_path / "reference.json"
    entry = {
        "mse": {"1": [0.1, 0.2]},
        "recipe": thresholds.recipe_of(reference.as_dict()),
    }
    path.write_text(json.dumps({"reference": {"mnist_add": {"classes": entry}}}))
    same = thresholds.same_recipe("mnist_add", "classes", judged.as_dict(), str(path))
    assert same is True
    longer = judged.replace(steps=4000).as_dict()
    assert thresholds.same_recipe("mnist_add", "classes", longer, str(path)) is False
    assert thresholds.same_recipe("mnist_count", "classes", longer, str(path)) is None
    # A field the reference predates counts as its recipe only when off.
    del entry["recipe"]["regularization"]["class_balance"]
    path.write_text(json.dumps({"reference": {"mnist_add": {"classes": entry}}}))
    assert thresholds.same_recipe("mnist_add", "classes", judged.as_dict(), str(path))
    balanced = judged.replace(class_balance=10.0).as_dict()
    assert thresholds.same_recipe("mnist_add", "classes", balanced, str(path)) is False
