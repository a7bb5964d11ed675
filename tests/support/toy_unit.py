"""A toy arithmetic unit, defined outside the library: `Selector`.

A new unit is one module and one registry line; the tests use this one to
show that a unit the library has never seen trains, prints its formula,
hardens, and joins the cell registry (`tasks.cells`) and `train.py`.
"""

import keras
from keras import ops

import nalu_rnn


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


def selector_spec():
    """The registry entry of the toy cell: `--cell selector`."""
    from tasks.cells import CellSpec

    return CellSpec(
        "selector",
        make_cell=SelectorCell,
        make_static=Selector,
        make_readout=Selector,
        arithmetic=True,
        description="SelectorCell; read-out Selector (a test unit)",
    )
