"""The single-layer model (`--static --single-layer`): the cell's registered
read-out alone, and what each unit computes on signed inputs."""

import keras
import numpy as np
import pytest

import nalu_rnn
from tasks.arithmetic.data import ArithmeticTask
from tasks.arithmetic.model import arithmetic_model
from tasks.cells import CELLS, get_cell_spec
from tests.support.arrays import as_numpy, assert_allclose

READOUTS = {
    "nac": nalu_rnn.NAC,
    "nau": nalu_rnn.NAU,
    "nalu": nalu_rnn.NALU,
    "nmu": nalu_rnn.NMU,
    "nmru": nalu_rnn.NMRU,
    "inalu": nalu_rnn.INALU,
    "realnpu": nalu_rnn.RealNPU,
    "npu": nalu_rnn.NPU,
    "lstm": keras.layers.Dense,
}


@pytest.mark.parametrize("cell", sorted(READOUTS))
def test_single_layer_is_the_registered_readout_alone(cell):
    reg = nalu_rnn.SparsityRegularizer(0.5)
    model = arithmetic_model(
        cell, 2, units=7, static=True, single_layer=True, arithmetic_regularizer=reg
    )
    assert [type(layer) for layer in model.layers[1:]] == [READOUTS[cell]]
    assert model.input_shape == (None, 2) and model.output_shape == (None, 1)
    unit = model.layers[-1]
    # The regularisers the read-out has in the two-layer model.
    two_layer = arithmetic_model(
        cell, 2, units=7, static=True, arithmetic_regularizer=reg
    ).layers[-1]
    assert type(two_layer) is type(unit)
    assert getattr(unit, "arithmetic_regularizer", None) is getattr(
        two_layer, "arithmetic_regularizer", None
    )
    assert np.all(np.isfinite(as_numpy(model(np.ones((3, 2), "float32")))))


def test_single_layer_needs_a_static_model():
    with pytest.raises(ValueError, match="pass static=True"):
        arithmetic_model("nmu", 2, units=2, single_layer=True)


def configs(model):
    """Each layer's config but its name (a second model numbers its layers)."""
    return [
        {k: v for k, v in layer.get_config().items() if k != "name"}
        for layer in model.layers
    ]


def test_only_the_nalu_changes_with_signed_inputs():
    for name, spec in CELLS.items():
        signed = arithmetic_model(name, 2, 2, static=True, signed=True)
        plain = arithmetic_model(name, 2, 2, static=True)
        if name == "nalu":
            assert spec.signed_kwargs == {"sign_correction": True}
            assert all(layer.sign_correction for layer in signed.layers[1:])
            assert not any(layer.sign_correction for layer in plain.layers[1:])
        else:
            assert spec.signed_kwargs is None
            assert configs(signed) == configs(plain)


def exact_unit(cell, op, a, b):
    """The single-layer model of `cell` set to compute `op(x[a], x[b])`."""
    model = arithmetic_model(
        cell, 2, units=1, static=True, single_layer=True, signed=True
    )
    unit = model.layers[-1]
    column = np.zeros((2, 1))
    if op in ("add", "sub", "mul"):
        column[[a, b], 0] = [1.0, -1.0 if op == "sub" else 1.0]
    else:  # div
        column[[a, b], 0] = [1.0, -1.0]
    additive = op in ("add", "sub")
    if cell in ("nac", "nau"):
        unit.assign_discrete_weight("W", column)
    elif cell == "nmu":
        unit.assign_discrete_weight("W", np.abs(column))
    elif cell == "nmru":
        unit.assign_discrete_weight("W", column > 0)
        unit.assign_discrete_weight("W_r", column < 0)
    elif cell in ("nalu", "inalu"):
        unit.assign_discrete_weight("W" if additive else "W_m", column)
        unit.G.assign(np.full((1,), 1000.0 if additive else -1000.0, "float32"))
    else:  # realnpu, npu
        unit.W.assign(column.astype("float32"))
        unit.g.assign(np.ones((2,), "float32"))
    return model


# Each unit and the signed ops it computes (the NAC and NAU sum, the NMU
# multiplies, the others multiply and divide; the NALU and iNALU also sum).
SIGNED_OPS = [
    ("nac", "add"), ("nac", "sub"), ("nau", "add"), ("nau", "sub"),
    ("nmu", "mul"), ("nmru", "mul"), ("nmru", "div"),
    ("nalu", "add"), ("nalu", "sub"), ("nalu", "mul"), ("nalu", "div"),
    ("inalu", "add"), ("inalu", "sub"), ("inalu", "mul"), ("inalu", "div"),
    ("realnpu", "mul"), ("realnpu", "div"), ("npu", "mul"), ("npu", "div"),
]  # fmt: skip


@pytest.mark.parametrize("cell, op", SIGNED_OPS)
def test_each_unit_computes_its_ops_on_mixed_signs(cell, op):
    task = ArithmeticTask(
        op,
        static=True,
        input_dim=2,
        subset_ratio=0.5,
        overlap_ratio=0.0,
        train_range=(-2.0, 2.0),
        extrapolation_range=((-6.0, -2.0), (2.0, 6.0)),
        subset_seed=3,
    )
    assert task.signed
    rng = np.random.default_rng(0)
    x, y = task.sample(256, 1, task.extrapolation_ranges, rng)
    assert (x < 0).any(axis=0).all() and (x > 0).any(axis=0).all()
    model = exact_unit(cell, op, task.subset_a[0], task.subset_b[0])
    assert_allclose(as_numpy(model.predict(x, verbose=0)), y, rtol=2e-5, atol=1e-5)
    # Within the threshold of the benchmark's success criterion.
    error = np.mean((as_numpy(model.predict(x, verbose=0)) - y) ** 2)
    assert error < task.single_layer_perturbed_mse(x)


def test_a_nalu_without_sign_correction_loses_the_sign():
    model = arithmetic_model("nalu", 2, units=1, static=True, single_layer=True)
    unit = model.layers[-1]
    unit.assign_discrete_weight("W_m", np.ones((2, 1)))
    unit.G.assign(np.full((1,), -1000.0, "float32"))
    x = np.array([[-2.0, 3.0], [-2.0, -3.0]], "float32")
    assert_allclose(as_numpy(model(x))[:, 0], [6.0, 6.0], rtol=1e-5)


def test_registry_describes_the_nmru():
    spec = get_cell_spec("nmru")
    assert spec.arithmetic and "NMRU" in spec.description
    model = arithmetic_model("nmru", 3, units=2)
    assert type(model.layers[-1]) is nalu_rnn.NMRU
    static = arithmetic_model("nmru", 3, units=2, static=True)
    assert [type(layer) for layer in static.layers[1:]] == [nalu_rnn.NAU, nalu_rnn.NMRU]
