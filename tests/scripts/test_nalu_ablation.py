"""`experiments/nalu_ablation.py`: the NALU recipe with one part undone."""

import pytest

from runner.config import RunConfig
from tasks.arithmetic.recipes import ARITHMETIC_CELL_RECIPES
from tasks.cells import CELLS
from tests.support.scripts import load_script

# Slow (trains in process): TensorFlow only in CI.
pytestmark = pytest.mark.slow


@pytest.fixture
def registries():
    """The cell registry and the cell recipes as they were before the test:
    the script registers each variant as a cell (`nalu_<variant>`)."""
    cells, recipes = dict(CELLS), dict(ARITHMETIC_CELL_RECIPES)
    yield
    for registry, before in ((CELLS, cells), (ARITHMETIC_CELL_RECIPES, recipes)):
        registry.clear()
        registry.update(before)


def test_nalu_ablation_variants_train_and_fold_only_where_they_may(
    tmp_path, registries
):
    nalu_ablation = load_script("experiments/nalu_ablation.py")
    out = tmp_path / "ablation"
    argv = ["--variants", "no_fold,readout_gate_half", "--ops", "sub"]
    nalu_ablation.main([*argv, "--seeds", "1", "--steps", "30", "--out", str(out)])
    table = (out / "nalu_ablation.md").read_text()
    assert "| no_fold | sub |" in table and "| readout_gate_half | sub |" in table
    # Every variant trains with the NALU's own recipe.
    variant = RunConfig.for_task("sub", cell="nalu_no_fold")
    nalu = RunConfig.for_task("sub", cell="nalu")
    for field in ("learning_rate", "batch_size", "steps"):
        assert getattr(variant.optim, field) == getattr(nalu.optim, field)
    unfolded = nalu_ablation.UnfoldedNALU(1, gate="unit")
    unfolded.build((None, 2))
    unfolded.G.assign([1000.0])  # additive alone, yet reported as not linear
    assert unfolded.exact_linear_weight() is None
