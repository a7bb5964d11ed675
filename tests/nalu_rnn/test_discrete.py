import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.discrete import Multiples, distance_to_discrete, nearest_discrete
from nalu_rnn.hardening import arithmetic_units, largest_discrete_distance
from tasks.arithmetic.model import arithmetic_model
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal

WEIGHTS = np.array([-2.0, -1.0, -0.6, -0.5, -0.1, 0.0, 0.3, 0.5, 0.9, 1.25])


def test_distance_to_minus_one_zero_one():
    expected = np.min(np.abs(WEIGHTS[:, None] - np.array([-1.0, 0.0, 1.0])), axis=1)
    assert_array_equal(distance_to_discrete(WEIGHTS), expected)


@pytest.mark.parametrize("values", [(0.0, 1.0), (0.0,), (-2.0, 3.0)])
def test_distance_to_other_values(values):
    expected = np.min(np.abs(WEIGHTS[:, None] - np.array(values)), axis=1)
    assert_array_equal(distance_to_discrete(WEIGHTS, values), expected)


def test_distance_to_any_integer():
    assert_allclose(
        distance_to_discrete([2.2, -1.75, 3.0], None), [0.2, 0.25, 0.0], atol=1e-12
    )
    assert_array_equal(nearest_discrete([2.2, -1.75], None), [2.0, -2.0])


def test_tensor_in_tensor_out_in_its_dtype():
    w = keras.ops.convert_to_tensor(WEIGHTS.astype("float32"))
    distance = distance_to_discrete(w)
    assert keras.ops.is_tensor(distance)
    assert keras.backend.standardize_dtype(distance.dtype) == "float32"
    assert_allclose(
        keras.ops.convert_to_numpy(distance), distance_to_discrete(WEIGHTS), atol=1e-7
    )


def test_nearest_discrete_breaks_ties_towards_the_first_value():
    assert_array_equal(nearest_discrete([-0.5, 0.5, 0.7], (0.0, 1.0)), [0.0, 0.0, 1.0])


def test_largest_distance_of_minus_one_zero_one_units_matches_numpy():
    # Madsen & Johansen's sparsity error, max min(|w|, |1 - |w||), is what
    # the arithmetic runs report for these units (results.json's
    # `sparsity_error`, tested in tests/tasks/arithmetic/test_experiment.py).
    model = arithmetic_model("nalu", 3, 2)
    weights = [
        as_numpy(keras.ops.convert_to_numpy(w), np.float64)
        for unit in arithmetic_units(model)
        for w in unit.arithmetic_weights().values()
    ]
    expected = max(np.max(np.minimum(abs(w), abs(1 - abs(w)))) for w in weights)
    assert_allclose(largest_discrete_distance(model), expected, rtol=1e-12)


def test_largest_distance_uses_each_units_values():
    nmu = nalu_rnn.NMU(1)
    nmu.build((None, 2))
    nmu.W.assign(np.array([[0.8], [0.1]], "float32"))
    # To {0, 1}: 0.2 for 0.8; {-1, 0, 1} would give the same here, but not
    # for an NPU exponent of 2.
    assert largest_discrete_distance(nmu) == pytest.approx(0.2)
    npu = nalu_rnn.RealNPU(1)
    npu.build((None, 2))
    npu.W.assign(np.array([[2.0], [-1.0]], "float32"))
    assert largest_discrete_distance(npu) == 0.0


def test_largest_distance_is_none_without_arithmetic_weights():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    assert largest_discrete_distance(model) is None


def test_multiples_of_a_step_as_discrete_values():
    halves = Multiples(0.5)
    w = np.array([0.49, -0.26, 1.74, 3.0])
    assert_allclose(nearest_discrete(w, halves), [0.5, -0.5, 1.5, 3.0])
    assert_allclose(
        distance_to_discrete(w, halves), [0.01, 0.24, 0.24, 0.0], atol=1e-12
    )
    on_tensors = distance_to_discrete(keras.ops.convert_to_tensor(w, "float32"), halves)
    assert_allclose(as_numpy(on_tensors), [0.01, 0.24, 0.24, 0.0], atol=1e-6)
    assert_allclose(nearest_discrete(w, Multiples(1.0)), nearest_discrete(w, None))
    for step in (0, -0.5, "half"):
        with pytest.raises(ValueError, match="positive"):
            Multiples(step)
