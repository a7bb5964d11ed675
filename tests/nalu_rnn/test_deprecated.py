"""The library's deprecated modules: `nalu_rnn.models` and `nalu_rnn.digits`
moved to `tasks` and stay importable, with a `DeprecationWarning`, for one
more minor version. Every other test imports the new paths."""

import importlib
import sys

import pytest

import nalu_rnn
import tasks.arithmetic.model
import tasks.cell_builders
import tasks.cells
import tasks.mnist.model
from nalu_rnn.hardening import harden_cells


def _import_afresh(name, monkeypatch):
    """Imports `nalu_rnn.<name>` as a first import would (it warns once, when
    first executed); the module and its attribute are put back afterwards."""
    monkeypatch.delitem(sys.modules, f"nalu_rnn.{name}", raising=False)
    monkeypatch.delattr(nalu_rnn, name, raising=False)
    return importlib.import_module(f"nalu_rnn.{name}")


def test_nalu_rnn_models_warns_and_reexports_the_registry(monkeypatch):
    with pytest.warns(DeprecationWarning, match="tasks.cells"):
        models = _import_afresh("models", monkeypatch)
    assert nalu_rnn.models is models
    assert models.arithmetic_model is tasks.arithmetic.model.arithmetic_model
    assert models.CELLS is tasks.cells.CELLS
    assert models.get_cell_spec("nalu") is tasks.cells.get_cell_spec("nalu")
    assert models.register_cell is tasks.cells.register_cell
    assert models.regularizer_kwargs is tasks.cells.regularizer_kwargs
    assert models.CellSpec is tasks.cells.CellSpec
    assert models.NALU_MAX_EXP == tasks.cell_builders.NALU_MAX_EXP
    assert models.NALU_GATE_START == tasks.cell_builders.NALU_GATE_START
    model = models.arithmetic_model("nac", input_dim=3, units=2)
    assert model.get_layer("recurrent").cell.units == 2


def test_nalu_rnn_digits_warns_and_reexports_the_mnist_models(monkeypatch):
    with pytest.warns(DeprecationWarning, match="tasks.mnist.model"):
        digits = _import_afresh("digits", monkeypatch)
    assert nalu_rnn.digits is digits
    for name in (
        "digit_encoder",
        "sequence_head",
        "sequence_model",
        "encode_images",
        "predict_from_embeddings",
        "IMAGE_INPUT_SHAPE",
    ):
        assert getattr(digits, name) is getattr(tasks.mnist.model, name), name
    assert digits.FoldTime is nalu_rnn.FoldTime
    assert digits.UnfoldTime is nalu_rnn.UnfoldTime
    assert digits.harden_cells is harden_cells
    assert digits.sequence_model("nac", 1).name == "nac_digits"
