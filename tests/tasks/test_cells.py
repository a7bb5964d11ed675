"""The cell registry (`tasks.cells`) and the builders its entries name
(`tasks.cell_builders`): what `train.py --cell NAME` builds."""

import keras
import numpy as np
import pytest

import nalu_rnn
from nalu_rnn.keras_internals import flatten_layers
from tasks.arithmetic.model import arithmetic_model
from tasks.cell_builders import NALU_GATE_START, NALU_MAX_EXP
from tasks.cells import CELLS, display_name, get_cell_spec
from tasks.mnist.model import sequence_head
from tests.support.arrays import assert_allclose


def _nalu_units(model):
    return [
        layer
        for layer in flatten_layers(model, include_self=False)
        if isinstance(layer, nalu_rnn.NALU)
    ]


def test_registry_nalu_caps_its_exponents():
    # The models train.py builds must not overflow (see NALU_MAX_EXP).
    model = arithmetic_model("nalu", input_dim=3, units=2)
    caps = [layer.max_exp for layer in _nalu_units(model)]
    assert caps and all(cap == NALU_MAX_EXP for cap in caps)
    static = arithmetic_model("nalu", 3, 2, static=True)
    assert [layer.max_exp for layer in _nalu_units(static)] == [20.0, 20.0]


def test_registry_nalu_has_unit_gates_and_an_additive_start():
    model = arithmetic_model("nalu", input_dim=3, units=2)
    cell_unit, readout = _nalu_units(model)
    assert cell_unit.gate == readout.gate == "unit"
    assert not cell_unit.shared_weights and not readout.shared_weights
    for unit, count in ((cell_unit, 2), (readout, 1)):
        gates = 1 / (1 + np.exp(-np.asarray(unit.G.numpy(), np.float64)))
        assert_allclose(gates, np.full(count, 1 / (1 + np.exp(-5.0))), rtol=1e-6)
    assert NALU_GATE_START == 5.0
    digits_head = sequence_head("nalu", embed_dim=10, output_dim=10)
    (head_unit,) = _nalu_units(digits_head)
    assert head_unit.gate == "unit"


def test_unknown_cell_lists_the_registry():
    with pytest.raises(ValueError, match="Unknown cell 'transformer'") as info:
        get_cell_spec("transformer")
    for name in ("nac", "nalu", "lstm", "nmu"):
        assert name in str(info.value)


def test_toy_unit_joins_with_one_registry_line(selector_cell):
    assert selector_cell in CELLS
    model = arithmetic_model(
        selector_cell, 2, 2, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
    )
    model.compile(keras.optimizers.Adam(0.05), "mse")
    x = np.random.default_rng(0).uniform(size=(8, 3, 2)).astype("float32")
    y = x.sum(axis=(1, 2))[:, None]
    before = [np.array(w.numpy()) for w in model.weights]
    model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    after = [np.array(w.numpy()) for w in model.weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    assert all(np.all((w >= 0) & (w <= 1)) for w in after)

    text = nalu_rnn.formula(model)
    assert "recurrent (SelectorCell):" in text and "h_t[1] = " in text
    assert "Selector):" in text and "y = " in text

    report = nalu_rnn.harden(model, tolerance=0.5)
    assert all(r.snapped == r.total for r in report)
    for w in (model.layers[1].cell.unit.W, model.layers[2].W):
        assert set(np.unique(w.numpy())) <= {0.0, 1.0}
    assert nalu_rnn.hardening.largest_discrete_distance(model) == 0.0


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize(
    "name", sorted(name for name, spec in CELLS.items() if spec.arithmetic)
)
def test_every_registered_arithmetic_model_prints_and_hardens(name, static):
    model = arithmetic_model(name, 2, 2, static=static)
    assert nalu_rnn.formula(model).count("):") == 2
    report = nalu_rnn.harden(model)
    assert report and all(r.total > 0 for r in report)
    assert nalu_rnn.hardening.largest_discrete_distance(model) >= 0.0


def test_display_names_follow_the_papers():
    assert [display_name(c) for c in ("nau", "snmu", "realnpu", "inalu")] == [
        "NAU",
        "sNMU",
        "RealNPU",
        "iNALU",
    ]
