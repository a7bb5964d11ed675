"""A new unit is one module and one registry line: a toy unit defined here
trains, prints its formula and hardens with nothing else added."""

import json

import keras
import numpy as np
import pytest
from keras import ops

import nalu_rnn
from nalu_rnn import models


@keras.saving.register_keras_serializable(package="toy")
class Selector(nalu_rnn.ArithmeticUnit):
    """`y = x @ W` with `W` in [0, 1], snapping to 0 or 1."""

    linear = True

    def build(self, input_shape):
        input_dim = self._input_dim(input_shape)
        self.W = self._add_direct_kernel(
            "W", input_dim, snap_values=(0.0, 1.0), clip=(0.0, 1.0)
        )

    def derived_weights(self):
        return (self.W,)

    def call_with(self, inputs, weights):
        return ops.matmul(inputs, weights[0])


@keras.saving.register_keras_serializable(package="toy")
class SelectorCell(nalu_rnn.ArithmeticCell):
    """`h_t = Selector(concat([x_t, h_{t-1}]))`."""

    unit_class = Selector

    def __init__(
        self,
        units,
        initial_state_value=0.0,
        kernel_initializer=None,
        arithmetic_regularizer=None,
        **kwargs,
    ):
        super().__init__(
            units,
            initial_state_value,
            {
                "kernel_initializer": kernel_initializer,
                "arithmetic_regularizer": arithmetic_regularizer,
            },
            **kwargs,
        )


@pytest.fixture
def selector_registered():
    models.register_cell(
        models.CellSpec(
            "selector",
            make_cell=SelectorCell,
            make_static=Selector,
            make_readout=Selector,
            arithmetic=True,
            description="SelectorCell; read-out Selector (a test unit)",
        )
    )
    yield
    del models.CELLS["selector"]


def test_toy_unit_joins_with_one_registry_line(selector_registered):
    assert "selector" in models.CELLS
    model = models.arithmetic_model(
        "selector", 2, 2, arithmetic_regularizer=nalu_rnn.SparsityRegularizer(0.01)
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


def test_toy_unit_trains_through_the_cli(selector_registered, tmp_path):
    import train

    out = tmp_path / "run"
    argv = ["--task", "add", "--cell", "selector", "--steps", "30"]
    argv += ["--eval-lengths", "10,100", "--eval-sequences", "16"]
    assert train.main([*argv, "--quiet", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["cell"] == "selector"
    assert "recurrent (SelectorCell):" in results["formula"]
    assert [entry["length"] for entry in results["eval"]] == [10, 100]


def test_toy_unit_formula_uses_its_discrete_values():
    unit = Selector(1)
    unit.build((None, 3))
    unit.W.assign(np.array([[1.0], [0.0], [0.25]], "float32"))
    assert nalu_rnn.formula(unit) == "y = x[0] + 0.25*x[2]"
    assert unit.discrete_values() == {"W": (0.0, 1.0)}


def test_non_linear_unit_without_formula_gets_the_generic_one():
    class Squares(Selector):
        linear = False

        def call_with(self, inputs, weights):
            return ops.matmul(inputs * inputs, weights[0])

    unit = Squares(2)
    unit.build((None, 2))
    unit.W.assign(np.array([[1.0, 0.0], [0.5, 1.0]], "float32"))
    assert nalu_rnn.formula(unit) == (
        "y[0] = Squares(W: x[0] + 0.5*x[1])\ny[1] = Squares(W: x[1])"
    )


@pytest.mark.parametrize("static", [False, True])
@pytest.mark.parametrize(
    "name", sorted(name for name, spec in models.CELLS.items() if spec.arithmetic)
)
def test_every_registered_arithmetic_model_prints_and_hardens(name, static):
    model = models.arithmetic_model(name, 2, 2, static=static)
    assert nalu_rnn.formula(model).count("):") == 2
    report = nalu_rnn.harden(model)
    assert report and all(r.total > 0 for r in report)
    assert nalu_rnn.hardening.largest_discrete_distance(model) >= 0.0


LAYERS = [
    nalu_rnn.NAC,
    nalu_rnn.NALU,
    nalu_rnn.NAU,
    nalu_rnn.NMU,
    nalu_rnn.INALU,
    nalu_rnn.RealNPU,
    nalu_rnn.NPU,
]
CELLS = [
    nalu_rnn.NACCell,
    nalu_rnn.NALUCell,
    nalu_rnn.NAUCell,
    nalu_rnn.NMUCell,
    nalu_rnn.INALUCell,
    nalu_rnn.RealNPUCell,
    nalu_rnn.NPUCell,
]


def _assert_hardens_every_weight(report, arithmetic_weights):
    # Every arithmetic weight is reported; units with a unit gate (iNALU,
    # NALU(gate="unit")) report their gate too, the NPUs their relevance.
    labels = [record.path.rsplit("/", 1)[-1] for record in report]
    assert set(arithmetic_weights) <= set(labels)
    assert set(labels) - set(arithmetic_weights) <= {"G", "g"}


@pytest.mark.parametrize("layer_cls", LAYERS)
def test_every_layer_prints_and_hardens(layer_cls):
    layer = layer_cls(2)
    layer.build((None, 3))
    assert nalu_rnn.formula(layer).startswith("y[0] = ")
    _assert_hardens_every_weight(nalu_rnn.harden(layer), layer.arithmetic_weights())


@pytest.mark.parametrize("cell_cls", CELLS)
def test_every_cell_prints_and_hardens(cell_cls):
    cell = cell_cls(2)
    cell.build((None, 3))
    assert nalu_rnn.formula(cell).startswith("h_t[0] = ")
    _assert_hardens_every_weight(nalu_rnn.harden(cell), cell.arithmetic_weights())
    assert set(cell.unit.discrete_values()) == set(cell.arithmetic_weights())
