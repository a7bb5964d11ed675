"""The RealNPU and NPU (`nalu_rnn.units.npu`)."""

import numpy as np
import pytest
from keras import ops

import nalu_rnn
from tests.support import samples
from tests.support.arrays import as_numpy, assert_allclose, assert_array_equal


@pytest.mark.parametrize("layer_cls", [nalu_rnn.RealNPU, nalu_rnn.NPU])
def test_npu_multiplies_divides_and_squares_signed_inputs(layer_cls):
    npu = layer_cls(3, gate_initializer="ones")
    npu.build((None, 2))
    # y0 = x0 * x1, y1 = x0 / x1, y2 = x0 ** 2
    npu.W.assign(np.array([[1, 1, 2], [1, -1, 0]], "float32"))
    x = np.array([[-3.0, 4.0], [-1.5, -2.0], [2.0, 0.5]], "float32")
    a, b = x[:, 0].astype(np.float64), x[:, 1].astype(np.float64)
    expected = np.stack([a * b, a / b, a**2], axis=1)
    assert_allclose(as_numpy(npu(x)), expected, rtol=1e-5, atol=1e-5)


def test_npu_relevance_gate_switches_inputs_off():
    npu = nalu_rnn.RealNPU(1)
    npu.build((None, 2))
    npu.W.assign(np.array([[1.0], [3.7]], "float32"))
    npu.g.assign(np.array([1.0, -0.5], "float32"))  # clipped to 0: x1 ignored
    x = np.array([[-3.0, 123.0], [2.0, -0.1]], "float32")
    assert_allclose(as_numpy(npu(x)), [[-3.0], [2.0]], rtol=1e-6)


def test_npu_imaginary_part():
    npu = nalu_rnn.NPU(1, gate_initializer="ones")
    npu.build((None, 1))
    npu.W.assign(np.array([[0.0]], "float32"))
    npu.W_im.assign(np.array([[1.0]], "float32"))
    # Re(x ** i) = cos(log|x|) for x > 0, exp(-pi) cos(log|x|) for x < 0.
    x = np.array([[2.0], [-2.0]], "float32")
    expected = np.cos(np.log(2.0)) * np.array([[1.0], [np.exp(-np.pi)]])
    assert_allclose(as_numpy(npu(x)), expected, rtol=1e-5)


def test_harden_snaps_npu_exponents_to_integers_and_relevances():
    layer = nalu_rnn.NPU(1)
    layer.build((None, 3))
    layer.W.assign(np.array([[1.96], [-0.04], [0.5]], "float32"))
    layer.W_im.assign(np.array([[0.05], [0.3], [-0.02]], "float32"))
    layer.g.assign(np.array([0.98, 0.02, 0.5], "float32"))
    report = nalu_rnn.harden(layer, tolerance=0.1)
    assert [r.path.rsplit("/", 1)[-1] for r in report] == ["W", "W_im", "g"]
    assert_array_equal(layer.W.numpy()[:, 0], [2.0, 0.0, 0.5])
    assert_array_equal(layer.W_im.numpy()[:, 0], np.float32([0, 0.3, 0]))
    # An undecided relevance stays as it is.
    assert_array_equal(layer.g.numpy(), np.float32([1.0, 0.0, 0.5]))
    assert report[-1].snapped == 2 and report[-1].total == 3


def test_harden_makes_a_realnpu_square_root_exact():
    layer = nalu_rnn.RealNPU(1)
    layer.build((None, 3))
    # Near y = sqrt(x[0]) * x[2]^0: exponent 0.501, relevances 0.995 and 0.013.
    layer.W.assign(np.array([[0.501], [1.03], [0.3]], "float32"))
    layer.g.assign(np.array([0.995, 0.5, 0.013], "float32"))
    nalu_rnn.harden(layer, tolerance=0.1)
    assert_array_equal(layer.W.numpy()[:, 0], np.float32([0.5, 1.0, 0.3]))
    assert_array_equal(layer.g.numpy(), np.float32([1.0, 0.5, 0.0]))
    layer.g.assign(np.array([1.0, 0.0, 0.0], "float32"))
    x = np.array([[4.0, 7.0, 3.0], [1e6, 2.0, 0.5]], "float32")
    assert_allclose(as_numpy(layer(x))[:, 0], [2.0, 1000.0], rtol=1e-6)
    assert nalu_rnn.hardening.largest_discrete_distance(layer) == pytest.approx(0.2)


@pytest.mark.parametrize("layer_cls", [nalu_rnn.RealNPU, nalu_rnn.NPU])
def test_gate_outside_unit_interval_still_gets_a_gradient(layer_cls):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, size=(8, 3)).astype("float32")
    layer = layer_cls(2)
    layer.build((None, 3))
    layer.g.assign(np.array([1.3, -0.2, 0.5], "float32"))
    outside = samples.gradients(layer, x)["g"]
    # The forward pass still sees the clipped gate ...
    clipped_value = ops.convert_to_numpy(layer(x))
    layer.g.assign(np.array([1.0, 0.0, 0.5], "float32"))
    assert_array_equal(ops.convert_to_numpy(layer(x)), clipped_value)
    # ... and the backward pass passes the gradient through the clip: the
    # same gradient as at the clipped point, non-zero for every entry.
    inside = samples.gradients(layer, x)["g"]
    assert np.all(outside != 0.0), outside
    assert_allclose(outside, inside, rtol=1e-6)
