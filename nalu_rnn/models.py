"""Models for the experiments: a registry of recurrent cells by name, and the
networks built from them.

Every cell the command line offers is looked up in `CELLS`; later units join
it with `register_cell`. An entry knows how to make its recurrent cell, its
static (no time axis) layer and the read-out that follows it, and how the
recurrent cell starts as a running memory of its state.
"""

import dataclasses
import functools

import keras

from nalu_rnn._validation import validate_positive_int
from nalu_rnn.initializers import StateBlockIdentity, StateIdentity
from nalu_rnn.rnn import recurrent_layer
from nalu_rnn.units import (
    INALU,
    NAC,
    NALU,
    NAU,
    NMU,
    NPU,
    INALUCell,
    NACCell,
    NALUCell,
    NAUCell,
    NMUCell,
    RealNPU,
)


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """How one named cell enters a model.

    Attributes:
        name: The name used on the command line (`--cell NAME`).
        make_cell: `make_cell(units, **kwargs)` returns a recurrent cell.
        make_static: `make_static(units, **kwargs)` returns the layer used
            without a time axis.
        make_readout: `make_readout(units, **kwargs)` returns the layer that
            maps the final state to the target. Keyword arguments (such as
            `arithmetic_regularizer`) are only passed to arithmetic cells.
        arithmetic: Whether the cell is an arithmetic unit whose weights have
            an exact solution (and can be hardened or printed as a formula).
        description: One line for the documentation and `--help`.
        identity_kwargs: `identity_kwargs(value)` returns the keyword
            arguments that start the recurrent cell as a running memory of
            its state (`arithmetic_model`'s `state_identity`), or `None`
            when the cell has no such start. Defaults to `None`.
        gated: Whether the cell's and read-out's units have a learnt gate
            (a `gate_regularizer` argument). Defaults to `False`.
        make_product_cell: `make_product_cell(units, **kwargs)` returns the
            recurrent cell that multiplies over time, for a task whose target
            is a running product (`mnist_product`), or `None` when the entry
            has none (then such a task gets `make_cell`, whatever that can
            do). Its initial state is 1, and a kernel of ones on the
            diagonals and zeros elsewhere (`nalu_rnn.initializers.BlockIdentity(1.0)`)
            makes it the exact running product `h_t = h_{t-1} * x_t`.
            Defaults to `None`.
    """

    name: str
    make_cell: object
    make_static: object
    make_readout: object
    arithmetic: bool
    description: str
    identity_kwargs: object = None
    gated: bool = False
    make_product_cell: object = None


CELLS = {}


def register_cell(spec):
    """Adds a `CellSpec` to the registry; its name must be new."""
    if spec.name in CELLS:
        raise ValueError(f"A cell named {spec.name!r} is already registered")
    CELLS[spec.name] = spec
    return spec


def get_cell_spec(name):
    """Returns the `CellSpec` registered as `name`, or says which exist."""
    if name not in CELLS:
        raise ValueError(
            f"Unknown cell {name!r}; valid cells are: {', '.join(sorted(CELLS))}"
        )
    return CELLS[name]


def _dense(activation):
    return lambda units: keras.layers.Dense(units, activation=activation)


def _simple_rnn_cell(activation):
    return lambda units, **kw: keras.layers.SimpleRNNCell(
        units, activation=activation, **kw
    )


def _gated_identity(value):
    """NAC-style cells: `W_hat` and `M_hat` from `StateIdentity(value)`."""
    return {"kernel_initializer": StateIdentity(value)}


def _direct_identity(value):
    """Direct-weight cells: the state block is exactly `I`, whatever `value`."""
    return {"kernel_initializer": StateBlockIdentity(1.0)}


def _without_regularizer(unit_class):
    """A read-out factory that leaves the regularisers out.

    The NPU's exponents may be 2 or 0.5 (square, root); a pull towards
    {-1, 0, 1}, or of its raw weights away from 0, would bias them.
    """

    def make(units, **regularizers):
        return unit_class(units)

    return make


def regularizer_kwargs(spec, arithmetic_regularizer=None, raw_regularizer=None):
    """The regulariser arguments of an arithmetic cell's layers.

    Args:
        spec: The cell's `CellSpec`.
        arithmetic_regularizer: Regularizer of the effective arithmetic
            weights (`nalu_rnn.SparsityRegularizer`), or `None`.
        raw_regularizer: Regularizer of the raw kernels and, for gated
            units, the raw gates (`nalu_rnn.regularizers.SaturationRegularizer`),
            or `None`.

    Returns:
        Keyword arguments for `spec.make_cell`, `make_static` and
        `make_readout`: empty for a cell without arithmetic units.
    """
    if not spec.arithmetic:
        return {}
    kwargs = {}
    if arithmetic_regularizer is not None:
        kwargs["arithmetic_regularizer"] = arithmetic_regularizer
    if raw_regularizer is not None:
        kwargs["kernel_regularizer"] = raw_regularizer
        if spec.gated:
            kwargs["gate_regularizer"] = raw_regularizer
    return kwargs


register_cell(
    CellSpec(
        "nac",
        make_cell=NACCell,
        make_static=NAC,
        make_readout=NAC,
        arithmetic=True,
        description="NACCell; read-out NAC (static: NAC -> NAC)",
        identity_kwargs=_gated_identity,
    )
)
# The exponent cap of every NALU the registry builds (iNALU's default):
# uncapped, a NALU on inputs near 0 overflowed float32 within 100 steps on
# some seeds of the recurrent tasks (experiments/nan_sweep.py). Products
# below e^20 (about 4.9e8), everything the tasks evaluate, are unchanged.
NALU_MAX_EXP = 20.0

# The registry's NALU (README, "The NALU recipe"): every NALU it builds has
# an input-independent gate (`gate="unit"`), pulled to 0 or 1 with the
# sparsity schedule and snapped by hardening, so each unit chooses addition
# or multiplication once, for every input and step. The recurrent cell's
# paths have separate weights. Every gate, the cell's and the read-out's,
# starts at sigmoid(5) = 0.993, onto the additive path (the same start for
# every task): the cell as an accumulator, like StateIdentity's state
# block; the read-out so that it does not settle early on its product path,
# which, from a random start, predicts a constant near the targets' mean
# sooner than the additive path fits anything (docs/nalu.md). Adam moves a
# gate that the loss consistently pushes across in about a hundred steps.
NALU_GATE_START = 5.0


def _additive_start():
    return keras.initializers.Constant(NALU_GATE_START)


register_cell(
    CellSpec(
        "nalu",
        make_cell=functools.partial(
            NALUCell,
            shared_weights=False,
            max_exp=NALU_MAX_EXP,
            gate="unit",
            gate_initializer=_additive_start(),
        ),
        make_static=functools.partial(NALU, max_exp=NALU_MAX_EXP, gate="unit"),
        make_readout=lambda units, **kw: NALU(
            units,
            shared_weights=False,
            gate_initializer=_additive_start(),
            max_exp=NALU_MAX_EXP,
            gate="unit",
            **kw,
        ),
        arithmetic=True,
        description="NALUCell with separate weights and unit gates started "
        "additive; read-out NALU with separate weights and unit gates started "
        "additive (static: NALU -> NALU); exponents capped at 20",
        identity_kwargs=_gated_identity,
        gated=True,
    )
)
register_cell(
    CellSpec(
        "lstm",
        make_cell=keras.layers.LSTMCell,
        make_static=_dense("tanh"),
        make_readout=_dense(None),
        arithmetic=False,
        description="LSTMCell; read-out Dense (static: Dense tanh -> Dense)",
    )
)
register_cell(
    CellSpec(
        "gru",
        make_cell=keras.layers.GRUCell,
        make_static=_dense("tanh"),
        make_readout=_dense(None),
        arithmetic=False,
        description="GRUCell; read-out Dense (static: Dense tanh -> Dense)",
    )
)
register_cell(
    CellSpec(
        "rnn_tanh",
        make_cell=_simple_rnn_cell("tanh"),
        make_static=_dense("tanh"),
        make_readout=_dense(None),
        arithmetic=False,
        description="SimpleRNNCell(tanh); read-out Dense (static: Dense tanh -> Dense)",
    )
)
register_cell(
    CellSpec(
        "rnn_relu",
        make_cell=_simple_rnn_cell("relu"),
        make_static=_dense("relu"),
        make_readout=_dense(None),
        arithmetic=False,
        description="SimpleRNNCell(relu); read-out Dense (static: Dense relu -> Dense)",
    )
)
register_cell(
    CellSpec(
        "nau",
        make_cell=NAUCell,
        make_static=NAU,
        make_readout=NAU,
        arithmetic=True,
        description="NAUCell; read-out NAU (static: NAU -> NAU); add and sub",
        identity_kwargs=_direct_identity,
    )
)
register_cell(
    CellSpec(
        "nmu",
        make_cell=NAUCell,
        make_static=NAU,
        make_readout=NMU,
        arithmetic=True,
        description="NAUCell (running sums); read-out NMU (their product): "
        "Madsen & Johansen's NAU -> NMU stack, since a recurrent NMU would "
        "multiply over time (static: NAU -> NMU); mul and square. For a "
        "product over time (mnist_product) the head is an NMUCell",
        identity_kwargs=_direct_identity,
        make_product_cell=NMUCell,
    )
)
register_cell(
    CellSpec(
        "inalu",
        make_cell=INALUCell,
        make_static=INALU,
        make_readout=INALU,
        arithmetic=True,
        description="INALUCell, gates started open (additive); read-out iNALU "
        "(static: iNALU -> iNALU)",
        # Both gated matrices start at the identity state block; the gate
        # sigmoid(3) = 0.95 starts the cell as an accumulator.
        identity_kwargs=lambda value: {
            "kernel_initializer": StateIdentity(value),
            "mask_initializer": StateIdentity(value),
            "gate_initializer": keras.initializers.Constant(3.0),
        },
        gated=True,
    )
)
register_cell(
    CellSpec(
        "realnpu",
        make_cell=NAUCell,
        make_static=NAU,
        make_readout=_without_regularizer(RealNPU),
        arithmetic=True,
        description="NAUCell (running sums); read-out RealNPU (powers of the "
        "sums, no sparsity penalty), since a recurrent NPU would multiply over "
        "time (static: NAU -> RealNPU); mul, div, square and sqrt",
        identity_kwargs=_direct_identity,
    )
)
register_cell(
    CellSpec(
        "npu",
        make_cell=NAUCell,
        make_static=NAU,
        make_readout=_without_regularizer(NPU),
        arithmetic=True,
        description="NAUCell (running sums); read-out NPU with complex weights "
        "(no sparsity penalty) (static: NAU -> NPU); mul, div, square and sqrt",
        identity_kwargs=_direct_identity,
    )
)


def arithmetic_model(
    cell,
    input_dim,
    units,
    output_dim=1,
    static=False,
    arithmetic_regularizer=None,
    state_identity=3.0,
    raw_regularizer=None,
    readout_regularizer=None,
):
    """The network of the arithmetic tasks: `cell` layer, then its read-out.

    Recurrent: `Input(None, input_dim) -> RNN(cell(units)) -> readout(1)`.
    Static: `Input(input_dim) -> static_layer(units) -> readout(1)`.
    For arithmetic cells, the recurrent kernel starts at the identity (the
    spec's `identity_kwargs`: `nalu_rnn.StateIdentity` for gated kernels,
    `StateBlockIdentity` for direct ones), NALU and iNALU cells' gates
    start open onto the additive path, and every arithmetic layer shares
    `arithmetic_regularizer` (except the NPU read-outs); baselines ignore
    all of these.

    Args:
        cell: A registered cell name (see `CELLS`).
        input_dim: Size of each input vector.
        units: Width of the recurrent state (or static hidden layer).
        output_dim: Size of the output. Defaults to `1`.
        static: Whether the input has no time axis. Defaults to `False`.
        arithmetic_regularizer: Regularizer of the effective arithmetic
            weights, e.g. `nalu_rnn.SparsityRegularizer`. Defaults to `None`.
        state_identity: Diagonal magnitude of `StateIdentity` for NAC-style
            arithmetic cells (direct-weight cells such as `NAUCell` start
            at exactly `I` instead); `None` keeps the random start.
            Defaults to `3.0`.
        raw_regularizer: Regularizer of the arithmetic layers' raw kernels
            and gates, e.g. `nalu_rnn.regularizers.SaturationRegularizer`
            (see `regularizer_kwargs`). Defaults to `None`.
        readout_regularizer: Regularizer of the read-out's effective
            weights in place of `arithmetic_regularizer`, so that its pull
            can follow a schedule of its own; `None` shares
            `arithmetic_regularizer`. Defaults to `None`.

    Returns:
        An uncompiled `keras.Model`.
    """
    spec = get_cell_spec(cell)
    input_dim = validate_positive_int(input_dim, "input_dim", "arithmetic_model")
    output_dim = validate_positive_int(output_dim, "output_dim", "arithmetic_model")
    extra = regularizer_kwargs(spec, arithmetic_regularizer, raw_regularizer)
    if readout_regularizer is None:
        readout_extra = extra
    else:
        readout_extra = regularizer_kwargs(spec, readout_regularizer, raw_regularizer)
    if static:
        inputs = keras.Input(shape=(input_dim,), name="x")
        hidden = spec.make_static(units, **extra)(inputs)
    else:
        inputs = keras.Input(shape=(None, input_dim), name="x")
        cell_kwargs = dict(extra)
        if spec.identity_kwargs is not None and state_identity is not None:
            cell_kwargs.update(spec.identity_kwargs(state_identity))
        layer = recurrent_layer(spec.make_cell(units, **cell_kwargs), name="recurrent")
        hidden = layer(inputs)
    outputs = spec.make_readout(output_dim, **readout_extra)(hidden)
    suffix = "static" if static else "rnn"
    return keras.Model(inputs, outputs, name=f"{cell}_{suffix}")
