"""The cells `train.py --cell NAME` offers: a registry, and its entries.

An entry (`CellSpec`) knows how to make its recurrent cell, its static (no
time axis) layer and the read-out that follows it, and how the recurrent
cell starts as a running memory of its state. The built-in entries name
their builders in `tasks.cell_builders` as `deferred` imports, so that the
registry, and `train.py --help` with it, loads without Keras; an entry
added at run time may give its builders directly.
"""

import dataclasses

from tasks.spec import deferred

# The cell of a run whose task registers no default cell of its own.
DEFAULT_CELL = "nac"
# The start of a recurrent cell as a memory of its state, the prior every
# arithmetic cell of both families starts with (`--state-memory`): the
# diagonal of a gated cell's `W_hat` and `M_hat` state block, so that its
# state weight starts at tanh(3) * sigmoid(3) = 0.95 (a direct cell's at 1).
MEMORY_START = 3.0


@dataclasses.dataclass(frozen=True)
class CellSpec:
    """How one named cell enters a model.

    Args:
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
            its state (`tasks.arithmetic.model.arithmetic_model`'s
            `state_identity`), or `None` when the cell has no such start.
            Defaults to `None`.
        gated: Whether the cell's and read-out's units have a learnt gate
            (a `gate_regularizer` argument). Defaults to `False`.
        make_product_cell: `make_product_cell(units, **kwargs)` returns the
            recurrent cell that multiplies over time, for a task whose target
            is a running product (`mnist_product`), or `None` when the entry
            has none (then such a task gets `make_cell`, whatever that can
            do). Its initial state is 1. Defaults to `None`.
        reciprocal: Whether the entry's read-out has weights on the
            inputs' reciprocals (the NMRU's `W_r`), so that it takes
            `pair_pull`. Defaults to `False`.
        signed_kwargs: Keyword arguments every layer of the entry takes
            when the inputs can be negative, so that its units get the sign
            of products and quotients right (the NALU's `sign_correction`),
            or `None` when its units handle signs as built. Defaults to
            `None`.
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
    reciprocal: bool = False
    signed_kwargs: object = None


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


def _builder(name):
    return deferred(f"tasks.cell_builders:{name}")


def _baseline(name, layer, static):
    return CellSpec(
        name,
        make_cell=_builder(f"{name}_cell"),
        make_static=_builder(f"{static}_layer"),
        make_readout=_builder("dense_readout"),
        arithmetic=False,
        description=f"{layer}; read-out Dense (static: Dense {static} -> Dense)",
    )


register_cell(
    CellSpec(
        "nac",
        make_cell=deferred("nalu_rnn:NACCell"),
        make_static=deferred("nalu_rnn:NAC"),
        make_readout=deferred("nalu_rnn:NAC"),
        arithmetic=True,
        description="NACCell; read-out NAC (static: NAC -> NAC)",
        identity_kwargs=_builder("gated_identity"),
    )
)
register_cell(
    CellSpec(
        "nalu",
        make_cell=_builder("nalu_cell"),
        make_static=_builder("nalu_static"),
        make_readout=_builder("nalu_readout"),
        arithmetic=True,
        description="NALUCell with separate weights and unit gates started "
        "additive; read-out NALU with separate weights and unit gates started "
        "additive (static: NALU -> NALU); exponents capped at 20; on inputs "
        "that can be negative, products signed (sign_correction)",
        identity_kwargs=_builder("gated_identity"),
        gated=True,
        # Off on non-negative inputs, where the runs measured so far were
        # made: with it the hidden values' signs would reach the products.
        signed_kwargs={"sign_correction": True},
    )
)
register_cell(_baseline("lstm", "LSTMCell", "tanh"))
register_cell(_baseline("gru", "GRUCell", "tanh"))
register_cell(_baseline("rnn_tanh", "SimpleRNNCell(tanh)", "tanh"))
register_cell(_baseline("rnn_relu", "SimpleRNNCell(relu)", "relu"))
register_cell(
    CellSpec(
        "nau",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=deferred("nalu_rnn:NAU"),
        arithmetic=True,
        description="NAUCell; read-out NAU (static: NAU -> NAU); add and sub",
        identity_kwargs=_builder("direct_identity"),
    )
)
register_cell(
    CellSpec(
        "nmu",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=deferred("nalu_rnn:NMU"),
        arithmetic=True,
        description="NAUCell (running sums); read-out NMU (their product): "
        "Madsen & Johansen's NAU -> NMU stack, since a recurrent NMU would "
        "multiply over time (static: NAU -> NMU); mul and square. For a "
        "product over time (mnist_product) the head is an NMUCell",
        identity_kwargs=_builder("direct_identity"),
        make_product_cell=deferred("nalu_rnn:NMUCell"),
    )
)
register_cell(
    CellSpec(
        "snmu",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=_builder("snmu_readout"),
        arithmetic=True,
        description="as nmu, with Mistry et al.'s stochastic NMU read-out: "
        "in training each input is scaled by noise drawn from U[1, 5] and the "
        "product divided by the noise's (static: NAU -> sNMU; --single-layer: "
        "sNMU); mul and square",
        identity_kwargs=_builder("direct_identity"),
    )
)
register_cell(
    CellSpec(
        "inalu",
        make_cell=deferred("nalu_rnn:INALUCell"),
        make_static=deferred("nalu_rnn:INALU"),
        make_readout=deferred("nalu_rnn:INALU"),
        arithmetic=True,
        description="INALUCell, gates started open (additive); read-out iNALU "
        "(static: iNALU -> iNALU)",
        identity_kwargs=_builder("inalu_identity"),
        gated=True,
    )
)
register_cell(
    CellSpec(
        "nmru",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=deferred("nalu_rnn:NMRU"),
        arithmetic=True,
        description="NAUCell (running sums); read-out NMRU (their product or "
        "quotient, signs included) (static: NAU -> NMRU; --single-layer: "
        "NMRU); mul and div",
        identity_kwargs=_builder("direct_identity"),
        reciprocal=True,
    )
)
register_cell(
    CellSpec(
        "snmru",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=_builder("snmru_readout"),
        arithmetic=True,
        description="as nmru, with the sNMU's training noise on the read-out: "
        "each |x| and 1/|x| scaled by noise drawn from U[1, 5] and the product "
        "divided by the noise's (static: NAU -> sNMRU; --single-layer: sNMRU); "
        "mul and div; on division worse than the NMRU in its probe "
        "(docs/nalm-benchmark.md)",
        identity_kwargs=_builder("direct_identity"),
        reciprocal=True,
    )
)
register_cell(
    CellSpec(
        "realnpu",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=_builder("realnpu_readout"),
        arithmetic=True,
        description="NAUCell (running sums); read-out RealNPU (powers of the "
        "sums, no sparsity penalty), since a recurrent NPU would multiply over "
        "time (static: NAU -> RealNPU); mul, div, square and sqrt",
        identity_kwargs=_builder("direct_identity"),
    )
)
register_cell(
    CellSpec(
        "npu",
        make_cell=deferred("nalu_rnn:NAUCell"),
        make_static=deferred("nalu_rnn:NAU"),
        make_readout=_builder("npu_readout"),
        arithmetic=True,
        description="NAUCell (running sums); read-out NPU with complex weights "
        "(no sparsity penalty) (static: NAU -> NPU); mul, div, square and sqrt",
        identity_kwargs=_builder("direct_identity"),
    )
)


# How the papers write the cells whose names are not all capitals.
_DISPLAY_NAMES = {
    "snmu": "sNMU",
    "snmru": "sNMRU",
    "inalu": "iNALU",
    "realnpu": "RealNPU",
}


def display_name(cell):
    """The cell's name as tables print it: `NAU`, `sNMU`, `RealNPU`."""
    return _DISPLAY_NAMES.get(cell, cell.upper())
