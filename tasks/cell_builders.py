"""The builders the cell registry's entries name (`tasks.cells`).

Each is what a `CellSpec` calls to make a layer: the NALU as the registry
trains it, the baselines' Keras layers, and the starts that make a
recurrent cell a running memory of its state.
"""

import keras

from nalu_rnn import NALU, NMRU, NMU, NPU, NALUCell, RealNPU
from nalu_rnn.initializers import StateBlockIdentity, StateIdentity

# The exponent cap of every NALU the registry builds (iNALU's default):
# uncapped, a NALU on inputs near 0 overflowed float32 within 100 steps on
# some seeds of the recurrent tasks (experiments/nan_sweep.py). Products
# below e^20 (about 4.9e8), everything the tasks evaluate, are unchanged.
NALU_MAX_EXP = 20.0

# Every NALU gate the registry builds, the cell's and the read-out's, starts
# at sigmoid(5) = 0.993, on the additive path: the cell as an accumulator,
# like StateIdentity's state block; the read-out so that it does not settle
# on its product path, which from a random start predicts a constant sooner
# than the additive path fits anything (docs/recipes.md).
NALU_GATE_START = 5.0


def _additive_start():
    return keras.initializers.Constant(NALU_GATE_START)


def nalu_cell_arguments():
    """The registry's NALU cell arguments: separate paths, one learnt gate per
    unit started additive, exponents capped."""
    return {
        "shared_weights": False,
        "max_exp": NALU_MAX_EXP,
        "gate": "unit",
        "gate_initializer": _additive_start(),
    }


def nalu_cell(units, **kwargs):
    """The registry's NALU cell (`nalu_cell_arguments`)."""
    return NALUCell(units, **nalu_cell_arguments(), **kwargs)


def nalu_static(units, **kwargs):
    """The registry's static NALU layer: one learnt gate per unit."""
    return NALU(units, max_exp=NALU_MAX_EXP, gate="unit", **kwargs)


def nalu_readout_arguments():
    """The registry's NALU read-out arguments: as the cell's
    (`nalu_cell_arguments`)."""
    return nalu_cell_arguments()


def nalu_readout(units, **kwargs):
    """The registry's NALU read-out (`nalu_readout_arguments`)."""
    return NALU(units, **nalu_readout_arguments(), **kwargs)


def lstm_cell(units, **kwargs):
    return keras.layers.LSTMCell(units, **kwargs)


def gru_cell(units, **kwargs):
    return keras.layers.GRUCell(units, **kwargs)


def rnn_tanh_cell(units, **kwargs):
    return keras.layers.SimpleRNNCell(units, activation="tanh", **kwargs)


def rnn_relu_cell(units, **kwargs):
    return keras.layers.SimpleRNNCell(units, activation="relu", **kwargs)


def tanh_layer(units, name=None):
    return keras.layers.Dense(units, activation="tanh", name=name)


def relu_layer(units, name=None):
    return keras.layers.Dense(units, activation="relu", name=name)


# Mistry et al.'s sNMU noise, U[1, 5] (nalm-benchmark's `--nmu-noise`).
SNMU_NOISE_RANGE = (1.0, 5.0)


def snmu_readout(units, **kwargs):
    """The stochastic NMU read-out: the NMU with training noise
    `SNMU_NOISE_RANGE`."""
    return NMU(units, noise_range=SNMU_NOISE_RANGE, **kwargs)


def snmru_readout(units, **kwargs):
    """The NMRU read-out with the sNMU's training noise, `SNMU_NOISE_RANGE`."""
    return NMRU(units, noise_range=SNMU_NOISE_RANGE, **kwargs)


def dense_readout(units, name=None):
    return keras.layers.Dense(units, name=name)


def realnpu_readout(units, name=None, **regularizers):
    """A RealNPU read-out without the regularisers: its exponents may be 2 or
    0.5 (square, root), which a pull towards {-1, 0, 1} would bias."""
    return RealNPU(units, name=name)


def npu_readout(units, name=None, **regularizers):
    """An NPU read-out without the regularisers (see `realnpu_readout`)."""
    return NPU(units, name=name)


def gated_identity(value):
    """NAC-style cells: `W_hat` and `M_hat` from `StateIdentity(value)`."""
    return {"kernel_initializer": StateIdentity(value)}


def direct_identity(value):
    """Direct-weight cells: the state block is exactly `I`, whatever `value`."""
    return {"kernel_initializer": StateBlockIdentity(1.0)}


def inalu_identity(value):
    """The iNALU cell: both gated matrices at the identity state block, and
    the gate sigmoid(3) = 0.95, so that it starts as an accumulator."""
    return {
        "kernel_initializer": StateIdentity(value),
        "mask_initializer": StateIdentity(value),
        "gate_initializer": keras.initializers.Constant(3.0),
    }
