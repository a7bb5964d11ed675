"""`experiments/mnist_sample_noise.py`: the spread of a length-1 test MSE
over test samples, here without a trained model."""

import json

import numpy as np
import pytest

from tests.support.scripts import load_script


@pytest.fixture(scope="module")
def sample_noise():
    return load_script("experiments/mnist_sample_noise.py")


def test_the_spread_of_a_sample_mse_is_the_standard_error(sample_noise):
    # Squared errors of 0 and 30 in 1% of the images: a sample of n images
    # has an MSE whose standard deviation is 30 * sqrt(0.01 * 0.99 / n).
    squared = np.zeros(10000)
    squared[:100] = 30.0
    spread = sample_noise.sample_spread(squared, sample=1000, draws=4000, seed=0)
    assert spread == pytest.approx(30 * np.sqrt(0.01 * 0.99 / 1000), rel=0.05)
    # Every image alike: no spread at all.
    assert sample_noise.sample_spread(np.ones(50), 10, 100, seed=0) == 0.0


def _run(folder, task):
    folder.mkdir(parents=True)
    (folder / "model.keras").write_bytes(b"")
    results = {"task": task, "seed": 3, "eval": [{"length": 1, "mse": 0.5}]}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_bad_runs_stop_the_script_with_one_line(
    sample_noise, tmp_path, capsys, monkeypatch
):
    # Refused before MNIST is loaded.
    def no_data(data_dir):
        raise AssertionError("MNIST loaded for a run that is refused")

    monkeypatch.setattr(sample_noise, "load_mnist", no_data)
    out = tmp_path / "summary.json"
    with pytest.raises(SystemExit) as stopped:
        sample_noise.main([str(tmp_path / "missing"), "--out", str(out)])
    assert stopped.value.code == 2
    assert "no model.keras" in capsys.readouterr().err
    count = _run(tmp_path / "count", "mnist_count")
    with pytest.raises(SystemExit) as stopped:
        sample_noise.main([str(count), "--out", str(out)])
    assert stopped.value.code == 2
    assert "a mnist_count run" in capsys.readouterr().err
    (count / "results.json").unlink()
    with pytest.raises(SystemExit) as stopped:
        sample_noise.main([str(count), "--out", str(out)])
    assert stopped.value.code == 2
    assert "no results.json" in capsys.readouterr().err
    assert not out.exists()
