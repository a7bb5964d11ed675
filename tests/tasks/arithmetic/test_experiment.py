"""The arithmetic experiment (`tasks.arithmetic.experiment`): its hooks, the
read-out fold, and the success measures it reports."""

import math

import keras
import numpy as np
import pytest

from nalu_rnn.hardening import largest_discrete_distance
from runner.config import RunConfig
from tasks.arithmetic.batches import ArithmeticBatches
from tasks.arithmetic.experiment import (
    ArithmeticExperiment,
    fold_readout,
    scaled_error,
)
from tasks.registry import make_experiment
from tests.support.arrays import as_numpy, assert_array_equal
from tests.support.exact_models import exact_static_model, two_sum_model


def test_arithmetic_runs_keep_a_fold_only_if_validation_error_holds():
    model, _, _ = two_sum_model("nac")
    before = [as_numpy(w).copy() for w in model.weights]
    entry = fold_readout(model, lambda m: 2.0, error_before=1.0)
    assert entry == {
        "folded": True,
        "kept": False,
        "validation_mse_before": 1.0,
        "validation_mse_after": 2.0,
    }
    for w, value in zip(model.weights, before, strict=True):
        assert_array_equal(as_numpy(w), value)
    assert fold_readout(model, lambda m: 0.5, error_before=1.0)["kept"] is True
    assert fold_readout(model, lambda m: 0.5, error_before=1.0) == {"folded": False}


def test_sparsity_error_is_the_largest_distance_to_a_discrete_value():
    _, model = exact_static_model()
    assert largest_discrete_distance(model) == 0.0
    # 0.3 is 0.3 from 0; a weight of 1.3 (outside a NAU's range) is 0.3 from 1.
    model.layers[1].W.assign(np.full((100, 2), 0.3, "float32"))
    assert largest_discrete_distance(model) == pytest.approx(0.3)
    model.layers[2].W.assign(np.array([[0.55], [1.0]], "float32"))
    assert largest_discrete_distance(model) == pytest.approx(0.45)
    dense = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert largest_discrete_distance(dense) is None


def test_success_measures_report_the_solved_step_and_the_sparsity_error():
    config = RunConfig.for_task("add", cell="nau", static=True)
    experiment = make_experiment(config)
    assert isinstance(experiment, ArithmeticExperiment)
    _, model = exact_static_model()
    model.layers[1].W.assign(np.full((100, 2), 0.3, "float32"))
    solved = [
        {"split": "interpolation", "success": False},
        {"split": "extrapolation", "success": True},
    ]
    assert experiment.succeeded(solved)
    # Without a monitor's step, a run solved at the end counts its last step.
    measures = experiment.success_measures(model, solved, steps=40)
    assert measures == {
        "solved_step": 40,
        "sparsity_error": largest_discrete_distance(model),
    }
    failed = [{"split": "extrapolation", "success": False}]
    assert not experiment.succeeded(failed)
    assert experiment.success_measures(model, failed, steps=40)["solved_step"] is None


def test_scaled_error_is_a_percentage_of_a_fresh_models_error():
    assert scaled_error(1.0, 4.0) == 25.0
    assert scaled_error(math.inf, 4.0) is None
    assert scaled_error(1.0, math.nan) is None
    assert scaled_error(1.0, 0.0) is None


def test_training_data_covers_the_steps_in_epochs_of_fresh_batches():
    config = RunConfig.for_task("add", steps=2500, batch_size=4, seed=3)
    data, epochs, steps_per_epoch = make_experiment(config).training_data()
    assert (epochs, steps_per_epoch) == (3, 1000)
    assert isinstance(data, ArithmeticBatches) and len(data) == 1000
    assert (data.length, data.batch_size, data.seed) == (10, 4, 3)


def test_a_subclass_changes_the_stream_and_the_start_through_its_hooks():
    class Probe(ArithmeticExperiment):
        def cell_start(self):
            return {"kernel_initializer": keras.initializers.Constant(0.0)}

        def batches(self, steps_per_epoch):
            return ("probe stream", steps_per_epoch)

    config = RunConfig.for_task("div", cell="nac", steps=2500)
    probe = make_experiment(config, Probe)
    assert probe.task.op == "div"
    assert probe.training_data() == (("probe stream", 1000), 3, 1000)
    cell = probe.build_model().get_layer("recurrent").cell
    assert_array_equal(as_numpy(cell.arithmetic_weights()["W"]), np.zeros((12, 2)))
    # The registered start: the state block a running memory of the state.
    plain = make_experiment(config).build_model()
    w = as_numpy(plain.get_layer("recurrent").cell.arithmetic_weights()["W"])
    assert np.all(np.diag(w[10:]) > 0.9)


def test_each_seed_draws_its_own_problem_unless_one_is_pinned():
    def problem(**flags):
        return make_experiment(RunConfig.for_task("mul", **flags)).problem()

    seeds = [problem(seed=seed) for seed in range(6)]
    assert len({(tuple(p["subset_a"]), tuple(p["subset_b"])) for p in seeds}) > 1
    assert [p["subset_seed"] for p in seeds] == list(range(6))
    pinned = [problem(seed=seed, subset_seed=4) for seed in range(3)]
    assert all(p == seeds[4] for p in pinned)


def test_the_data_flags_make_the_problem():
    config = RunConfig.for_task(
        "div",
        static=True,
        input_size=10,
        subset_ratio=0.1,
        overlap_ratio=0.0,
        train_range=(1.0, 2.0),
        extrapolation_range=((-6.0, -2.0), (2.0, 6.0)),
    )
    problem = make_experiment(config).problem()
    assert problem["input_size"] == 10
    assert len(problem["subset_a"]) == len(problem["subset_b"]) == 1
    assert problem["subset_a"] != problem["subset_b"]
    assert problem["extrapolation_range"] == [[-6.0, -2.0], [2.0, 6.0]]
