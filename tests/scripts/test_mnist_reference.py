"""`experiments/mnist_reference.py`: the reference runs behind the MNIST
success thresholds (`tasks.mnist.thresholds`), here without training."""

import json
from pathlib import Path

import pytest

from tasks.mnist import thresholds
from tests.support.scripts import load_script


@pytest.fixture(scope="module")
def mnist_reference():
    return load_script("experiments/mnist_reference.py")


def _fake_sweep(runs, pin_cores=False, **settings):
    """Writes what `train.py --solved-head` would, without training."""
    for out, flags in runs:
        seed = int(flags[flags.index("--seed") + 1])
        task = flags[flags.index("--task") + 1]
        run = Path(out) / f"seed_{seed}"
        run.mkdir(parents=True)
        evals = [{"length": n, "mse": 0.1 * n + seed} for n in (1, 2)]
        results = {
            "steps": 5,
            "cell": "nmu" if task == "mnist_product" else "nac",
            "eval": evals,
            "run_config": {
                "run": {"task": task, "seed": seed, "out": str(out)},
                "optim": {"steps": 5},
            },
        }
        (run / "results.json").write_text(json.dumps(results))


def test_reference_script_measures_the_product_and_keeps_other_entries(
    mnist_reference, tmp_path, monkeypatch
):
    path = tmp_path / "reference.json"
    kept = {"mnist_add": {"classes": {"mse": {"1": [0.1, 0.2]}}}}
    path.write_text(json.dumps({"command": "earlier", "reference": kept}))
    monkeypatch.setattr(mnist_reference, "run_sweep", _fake_sweep)
    argv = ["--tasks", "mnist_product", "--encoders", "classes", "--seeds", "2"]
    mnist_reference.main([*argv, "--out", str(tmp_path / "runs"), "--write", str(path)])
    written = json.loads(path.read_text())["reference"]
    assert written["mnist_add"] == kept["mnist_add"]
    entry = written["mnist_product"]["classes"]
    assert entry["cell"] == "nmu" and entry["seeds"] == [1000, 1001]
    # The recipe, without what is the seed's own.
    assert entry["recipe"] == {"run": {"task": "mnist_product"}, "optim": {"steps": 5}}
    assert (
        entry["mse"]["2"] == [1000.2, 1001.2]
        and "--tasks mnist_product" in entry["command"]
    )
    assert set(thresholds.thresholds("mnist_product", "classes", path=str(path))) == {
        1,
        2,
    }


def test_reference_script_measures_each_task_with_its_own_encoder(
    mnist_reference, tmp_path, monkeypatch
):
    path = tmp_path / "reference.json"
    monkeypatch.setattr(mnist_reference, "run_sweep", _fake_sweep)
    argv = ["--tasks", "mnist_count,mnist_add", "--seeds", "2"]
    mnist_reference.main([*argv, "--out", str(tmp_path / "runs"), "--write", str(path)])
    written = json.loads(path.read_text())["reference"]
    assert set(written["mnist_count"]) == {"classes"}
    assert set(written["mnist_add"]) == {"linear"}
    assert (tmp_path / "runs" / "mnist_add-linear" / "seed_1001").is_dir()


def test_reference_script_refuses_an_unknown_task(mnist_reference, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        mnist_reference.main(["--tasks", "mnist_mul", "--write", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "unknown MNIST task mnist_mul" in err


def test_reference_seeds_start_apart_from_the_judged_seeds(
    mnist_reference, tmp_path, capsys
):
    with pytest.raises(SystemExit) as info:
        mnist_reference.main(["--seed", "0", "--write", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "start at 1000" in err
    defaults = mnist_reference.build_parser().parse_args([])
    assert (defaults.seed, defaults.seeds) == (1000, 9)


def test_the_packaged_counting_reference_uses_seeds_no_judged_run_uses(
    mnist_reference,
):
    # The bars of each task with its own encoder: the script's seed count,
    # all from its first seed up, apart from every judged run's seeds (the
    # class encoder's addition and product bars are still the earlier seeds
    # 0-4; docs/mnist.md says why).
    reference = thresholds.read_reference()
    own = (
        ("mnist_count", "classes"),
        ("mnist_add", "linear"),
        ("mnist_product", "linear"),
    )
    for task, encoder in own:
        entry = reference[task][encoder]
        assert len(entry["seeds"]) == mnist_reference.SEEDS
        assert min(entry["seeds"]) >= mnist_reference.FIRST_SEED
        assert all(len(mse) == len(entry["seeds"]) for mse in entry["mse"].values())
