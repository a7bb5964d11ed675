"""Registry models (`tasks.arithmetic.model.arithmetic_model`) set to an
exact solution of an arithmetic task, for the hardening and success tests."""

import numpy as np

from tasks.arithmetic.data import ArithmeticTask
from tasks.arithmetic.model import arithmetic_model


def two_sum_model(cell_name):
    """The recurrent `sub` solution as two running sums read out as their
    difference: `h[0] = sum x[0] + x[2]`, `h[1] = sum x[1] + x[2]`,
    `y = h[0] - h[1]`, every weight exact.

    Returns `(model, cell, readout)`.
    """
    model = arithmetic_model(cell_name, input_dim=3, units=2)
    cell, readout = model.get_layer("recurrent").cell, model.layers[-1]
    kernel = np.array([[1, 0], [0, 1], [1, 1], [1, 0], [0, 1]], np.float64)
    cell.unit.assign_discrete_weight("W", kernel)
    readout.assign_discrete_weight("W", np.array([[1.0], [-1.0]]))
    for unit in (cell.unit, readout):
        if unit.unit_gate() is not None:
            unit.unit_gate().assign(np.full(unit.units, 1000.0, "float32"))
    return model, cell, readout


def exact_static_model(op="add", offset=0.0):
    """NAU(2) -> NAU(1) holding the exact solution of the static task.

    `offset` is added to one selection weight, so that a non-zero offset
    leaves the model just off the solution. Returns `(task, model)`.
    """
    task = ArithmeticTask(op, static=True)
    w1 = np.zeros((task.input_dim, 2), "float32")
    w1[task.subset_a, 0] = 1.0
    w1[task.subset_b, 1] = 1.0
    w1[0, 0] += offset
    model = arithmetic_model("nau", task.input_dim, 2, static=True)
    model.layers[1].W.assign(w1)
    model.layers[2].W.assign(np.array([[1.0], [1.0 if op == "add" else -1.0]]))
    return task, model
