"""The network of the arithmetic tasks: a registered cell, then its read-out."""

import keras

from nalu_rnn._validation import validate_positive_int
from nalu_rnn.rnn import recurrent_layer
from tasks.cells import get_cell_spec, regularizer_kwargs


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
    cell_start=None,
    single_layer=False,
    signed=False,
    pair_pull=0.0,
):
    """The network of the arithmetic tasks: `cell` layer, then its read-out.

    Recurrent: `Input(None, input_dim) -> RNN(cell(units)) -> readout(1)`.
    Static: `Input(input_dim) -> static_layer(units) -> readout(1)`.
    Single layer: `Input(input_dim) -> readout(1)`, the read-out alone (the
    NALM benchmark's model), with the regularisers it has in the others.
    For arithmetic cells, the recurrent kernel starts at the identity (the
    spec's `identity_kwargs`: `nalu_rnn.StateIdentity` for gated kernels,
    `StateBlockIdentity` for direct ones), NALU and iNALU cells' gates
    start open onto the additive path, and every arithmetic layer shares
    `arithmetic_regularizer` (except the NPU read-outs); baselines ignore
    all of these.

    Args:
        cell: A registered cell name (`tasks.cells.CELLS`).
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
        cell_start: Keyword arguments that start the recurrent cell in place
            of the spec's `identity_kwargs(state_identity)` (a probe's start),
            or `None`. Defaults to `None`.
        single_layer: Whether the static model is the read-out alone, with
            no hidden layer (`units` is then unused). Defaults to `False`.
        signed: Whether the inputs can be negative: every layer then gets
            the spec's `signed_kwargs` (the NALU's sign correction).
            Defaults to `False`.
        pair_pull: The read-out's pull on each input's `W - W_r`, for a
            cell whose read-out has weights on the inputs' reciprocals
            (`CellSpec.reciprocal`, `nalu_rnn.NMRU(pair_pull=)`); others
            must leave it at 0. Defaults to `0.0`.

    Returns:
        An uncompiled `keras.Model`.

    Raises:
        ValueError: for `single_layer` without `static`, a cell that is not
            registered, or a non-positive `input_dim` or `output_dim`.
    """
    spec = get_cell_spec(cell)
    input_dim = validate_positive_int(input_dim, "input_dim", "arithmetic_model")
    output_dim = validate_positive_int(output_dim, "output_dim", "arithmetic_model")
    if single_layer and not static:
        raise ValueError(
            "A single-layer arithmetic_model has no time axis: pass static=True"
        )
    extra = regularizer_kwargs(spec, arithmetic_regularizer, raw_regularizer)
    if readout_regularizer is None:
        readout_extra = extra
    else:
        readout_extra = regularizer_kwargs(spec, readout_regularizer, raw_regularizer)
    if signed and spec.signed_kwargs:
        extra = {**extra, **spec.signed_kwargs}
        readout_extra = {**readout_extra, **spec.signed_kwargs}
    if pair_pull:
        if not spec.reciprocal:
            raise ValueError(
                f"pair_pull acts on weights on the inputs' reciprocals; cell "
                f"{cell!r} has none"
            )
        readout_extra = {**readout_extra, "pair_pull": pair_pull}
    if single_layer:
        inputs = keras.Input(shape=(input_dim,), name="x")
        outputs = spec.make_readout(output_dim, **readout_extra)(inputs)
        return keras.Model(inputs, outputs, name=f"{cell}_single_layer")
    if static:
        inputs = keras.Input(shape=(input_dim,), name="x")
        hidden = spec.make_static(units, **extra)(inputs)
    else:
        inputs = keras.Input(shape=(None, input_dim), name="x")
        cell_kwargs = dict(extra)
        if cell_start is not None:
            cell_kwargs.update(cell_start)
        elif spec.identity_kwargs is not None and state_identity is not None:
            cell_kwargs.update(spec.identity_kwargs(state_identity))
        layer = recurrent_layer(spec.make_cell(units, **cell_kwargs), name="recurrent")
        hidden = layer(inputs)
    outputs = spec.make_readout(output_dim, **readout_extra)(hidden)
    suffix = "static" if static else "rnn"
    return keras.Model(inputs, outputs, name=f"{cell}_{suffix}")
