"""Library inputs of the wrong rank or dtype, and non-finite values where
they matter, raise `ValueError` naming the argument and what was received."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn import digits, models


@pytest.mark.parametrize("layer", [nalu_rnn.NAC, nalu_rnn.NALU, nalu_rnn.NAU])
@pytest.mark.parametrize("dtype", ["int32", "bool"])
def test_unit_refuses_non_float_inputs(layer, dtype):
    with pytest.raises(ValueError, match=f"`inputs`; received inputs of dtype {dtype}"):
        layer(2)(np.ones((3, 4), dtype))


def test_unit_refuses_string_inputs():
    with pytest.raises(ValueError, match="NAC expects floating-point `inputs`"):
        nalu_rnn.NAC(2)(np.array([["a", "b"]]))


def test_unit_accepts_every_float_dtype():
    assert nalu_rnn.NAC(2)(np.ones((3, 4), "float64")).shape == (3, 2)
    half = nalu_rnn.NAC(2, dtype="float16")(np.ones((3, 4), "float16"))
    assert keras.backend.standardize_dtype(half.dtype) == "float16"


def test_cell_in_rnn_refuses_integer_sequences():
    rnn = keras.layers.RNN(nalu_rnn.NACCell(2))
    with pytest.raises(ValueError, match="NACCell expects floating-point `inputs`"):
        rnn(np.ones((3, 5, 4), "int32"))


@pytest.mark.parametrize("layer", [nalu_rnn.NAC, nalu_rnn.NALUCell])
def test_non_float_dtype_argument(layer):
    with pytest.raises(ValueError, match="`dtype` of .* received dtype='int32'"):
        layer(2, dtype="int32")


@pytest.mark.parametrize("tolerance", [float("nan"), float("inf"), "0.1", -0.1])
def test_harden_tolerance_must_be_a_finite_number_in_range(tolerance):
    model = keras.Sequential([keras.Input((2,)), nalu_rnn.NAC(1)])
    with pytest.raises(ValueError, match=r"`tolerance` of nalu_rnn.harden .*received"):
        nalu_rnn.harden(model, tolerance)
    with pytest.raises(ValueError, match="`tolerance` of harden_cells"):
        digits.harden_cells(model, tolerance)
    with pytest.raises(ValueError, match="`tolerance` of NAC"):
        model.layers[0].snap_arithmetic_weights(tolerance)


@pytest.mark.parametrize(
    "make, name",
    [
        (nalu_rnn.StateIdentity, "value"),
        (nalu_rnn.initializers.BlockIdentity, "value"),
        (models.StateBlockIdentity, "value"),
    ],
)
def test_initializer_values_must_be_finite(make, name):
    with pytest.raises(ValueError, match=f"`{name}` of .*received {name}=nan"):
        make(float("nan"))


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: digits.digit_encoder(0), "output_dim"),
        (lambda: digits.digit_encoder(2.5), "output_dim"),
        (lambda: digits.sequence_head("nac", 0, 1), "embed_dim"),
        (lambda: digits.sequence_head("nac", 1, -1), "output_dim"),
        (lambda: digits.sequence_model("nac", 0), "task_output_dim"),
        (lambda: models.arithmetic_model("nac", 0, 2), "input_dim"),
        (lambda: models.arithmetic_model("nac", 10, 2, output_dim=0), "output_dim"),
    ],
)
def test_model_sizes_must_be_positive_integers(call, name):
    with pytest.raises(ValueError, match=f"`{name}` of .*positive integer"):
        call()


def test_fold_time_refuses_inputs_without_a_time_axis():
    with pytest.raises(ValueError, match=r"FoldTime expects inputs of rank >= 3"):
        digits.FoldTime()(np.zeros((2, 28), "float32"))


def test_sequence_model_refuses_images_without_a_time_axis():
    model = digits.sequence_model("nac", 1)
    with pytest.raises(ValueError, match="incompatible"):
        model(np.zeros((2, 28, 28, 1), "float32"))


@pytest.mark.parametrize(
    "images, match",
    [
        (np.zeros((28, 28), "uint8"), r"`images` .*rank 3 .*received images of shape"),
        (np.zeros((2, 28, 28), "float32"), r"`images` .*rank 4 .*\(2, 28, 28\)"),
        (np.full((1, 28, 28, 1), np.nan, "float32"), r"`images` .*finite"),
        (np.array([["a"]]), r"`images` .*dtype <U1"),
    ],
)
def test_encode_images_checks_rank_dtype_and_finiteness(images, match):
    encoder = digits.digit_encoder(10, conv_filters=(2, 2), dense_units=4)
    with pytest.raises(ValueError, match=match):
        digits.encode_images(encoder, images)


@pytest.mark.parametrize(
    "embeddings, indices, match",
    [
        (np.zeros((5,), "float32"), np.zeros((2, 3), "int64"), "`embeddings`"),
        (np.full((5, 1), np.inf, "float32"), np.zeros((2, 3), "int64"), "finite"),
        (np.zeros((5, 1), "float32"), np.zeros((2, 3), "float32"), "`indices`"),
        (np.zeros((5, 1), "float32"), np.zeros((3,), "int64"), r"`indices`.*\(3,\)"),
        (np.zeros((5, 1), "float32"), np.full((2, 3), 7), r"\[0, 5\).*\[7, 7\]"),
    ],
)
def test_predict_from_embeddings_checks_its_arrays(embeddings, indices, match):
    head = digits.sequence_head("nac", 1, 1)
    with pytest.raises(ValueError, match=match):
        digits.predict_from_embeddings(head, embeddings, indices)
