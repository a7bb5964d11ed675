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


def test_held_out_judges_each_reference_seed_by_the_others(tmp_path):
    path = tmp_path / "reference.json"
    mse = {"1": [0.1, 0.11, 0.09, 0.5], "10": [1.0, 1.1, 0.9, 1.0]}
    reference = {"mnist_add": {"linear": {"seeds": [0, 1, 2, 3], "mse": mse}}}
    path.write_text(json.dumps({"reference": reference}))
    found = thresholds.held_out("mnist_add", "linear", path=str(path))
    assert found == {1: [True, True, True, False], 10: [True, True, True, True]}
    # Only the encoder's own seeds: no other encoder's bar stands in.
    assert thresholds.held_out("mnist_add", "classes", path=str(path)) == {}
    reference["mnist_add"]["linear"]["mse"] = {"1": [0.1, 0.2]}
    path.write_text(json.dumps({"reference": reference}))
    assert thresholds.held_out("mnist_add", "linear", path=str(path)) == {}


def test_the_packaged_reference_gives_thresholds_to_the_default_encoder():
    # The file ships beside the module (setup.cfg's package data).
    where = Path(thresholds.REFERENCE_FILE).parts[-3:]
    assert where == ("tasks", "mnist", "reference.json")
    for task in ("mnist_count", "mnist_add"):
        found = thresholds.thresholds(task, "classes")
        assert found and all(value > 0 for value in found.values())
    # Counting has no linear reference and borrows the class encoder's;
    # addition's default encoder has its own.
    assert thresholds.reference_encoder("mnist_count", "linear") == "classes"
    assert thresholds.reference_encoder("mnist_add", "linear") == "linear"
    assert thresholds.thresholds("mnist_add", "linear")


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
    del entry["recipe"]["optim"]["clipnorm"]
    path.write_text(json.dumps({"reference": {"mnist_add": {"classes": entry}}}))
    assert thresholds.same_recipe("mnist_add", "classes", judged.as_dict(), str(path))
    clipped = judged.replace(clipnorm=1.0).as_dict()
    assert thresholds.same_recipe("mnist_add", "classes", clipped, str(path)) is False


def _judged_run(seed, mse, mse_raw):
    from runner.config import RunConfig

    config = RunConfig.for_task("mnist_count", seed=seed)
    eval_entries = [
        {"length": n, "split": "extrapolation", "mse": a, "mse_raw": b,
         "success_threshold_mse": 99.0, "success": True, "success_raw": True}
        for n, a, b in zip((1, 10, 100), mse, mse_raw, strict=True)
    ]  # fmt: skip
    return {
        "task": "mnist_count",
        "cell": "nac",
        "seed": seed,
        "train_seconds": 1.0,
        "versions": {"backend": "jax"},
        "eval": eval_entries,
        "run_config": config.as_dict(),
        "success": True,
        "success_raw": True,
    }


def _reference(tmp_path, recipe):
    path = tmp_path / "reference.json"
    # Bars: about 0.2 at length 1 and 2.0 at length 10; none at 100.
    mse = {"1": [0.19, 0.2, 0.21], "10": [1.9, 2.0, 2.1]}
    entry = {"seeds": [1000, 1001, 1002], "mse": mse, "recipe": recipe}
    path.write_text(json.dumps({"reference": {"mnist_count": {"classes": entry}}}))
    return path


def test_judge_rejudges_a_run_from_its_stored_errors(tmp_path):
    run = _judged_run(500, mse=(0.1, 3.0, 5.0), mse_raw=(0.3, 1.0, 5.0))
    path = _reference(tmp_path, thresholds.recipe_of(run["run_config"]))
    judged = thresholds.judge(run, str(path))
    bars = thresholds.thresholds("mnist_count", "classes", str(path))
    one, ten, hundred = judged["eval"]
    assert one["success_threshold_mse"] == pytest.approx(bars[1])
    assert (one["success"], one["success_raw"]) == (True, False)
    assert (ten["success"], ten["success_raw"]) == (False, True)
    # No bar at 100: no verdict, not the stale one.
    assert not {"success", "success_raw", "success_threshold_mse"} & set(hundred)
    assert (judged["success"], judged["success_raw"]) == (False, False)
    assert judged["success_reference"] == "classes"
    assert judged["success_reference_same_recipe"] is True
    # The run given is left as it was.
    assert run["eval"][0]["success_threshold_mse"] == 99.0


def test_mnist_judge_script_rewrites_runs_and_summary(tmp_path, capsys):
    from tests.support.scripts import load_script

    script = load_script("experiments/mnist_judge.py")
    folder = tmp_path / "runs"
    for seed, mse in ((500, (0.1, 1.0, 5.0)), (501, (0.3, 1.0, 5.0))):
        (folder / f"seed_{seed}").mkdir(parents=True)
        run = _judged_run(seed, mse, mse)
        (folder / f"seed_{seed}" / "results.json").write_text(json.dumps(run))
    path = _reference(tmp_path, {"other": "recipe"})
    script.main([str(folder), "--reference", str(path)])
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["seeds"] == [500, 501]
    assert summary["eval"][0]["successes"] == [True, False]
    assert summary["eval"][1]["successes_raw"] == [True, True]
    assert "successes" not in summary["eval"][2]
    seed = json.loads((folder / "seed_501" / "results.json").read_text())
    assert seed["success"] is False
    assert seed["success_reference_same_recipe"] is False
    assert "L=1: 1/2 raw, 1/2" in capsys.readouterr().out
    # The plots are drawn again, with the new bars.
    assert (folder / "extrapolation.png").is_file()
    assert (folder / "seed_500" / "extrapolation.png").is_file()
    with pytest.raises(SystemExit) as exit_info:
        script.main([str(tmp_path / "empty")])
    assert exit_info.value.code == 2
