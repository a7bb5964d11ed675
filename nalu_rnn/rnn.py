"""A `keras.layers.RNN` for arithmetic cells that does per sequence what it can."""

import keras
from keras import ops

from nalu_rnn.units import ArithmeticCell


def _linear_cells():
    return sorted(
        cls.__name__
        for cls in keras.saving.get_custom_objects().values()
        if isinstance(cls, type)
        and issubclass(cls, ArithmeticCell)
        and cls.unit_class is not None
        and cls.unit_class.linear
    )


def linear_recurrence(projected, initial_state, transition):
    """All states of `h_t = h_{t-1} @ transition + projected[t]`, in parallel.

    Computes them in `ceil(log2(time))` rounds of one batched matmul each
    (a parallel prefix scan) instead of a loop over the steps.

    Args:
        projected: Time-major tensor `(time, batch, units)`, each step's
            input already multiplied by its weights.
        initial_state: Tensor `(batch, units)`, the state before step 0.
        transition: Tensor `(units, units)`, the state-to-state weights.

    Returns:
        Time-major tensor `(time, batch, units)` of the states after each step.
    """
    # NumPy inputs would meet backend tensors in `+` below, which NumPy
    # cannot add to a torch tensor.
    projected, initial_state, transition = (
        ops.convert_to_tensor(v) for v in (projected, initial_state, transition)
    )
    # The initial state is folded into step 0's offset, so that the states
    # are prefix sums of the offsets carried through powers of A:
    # h_t = sum_{j <= t} b_{t-j} @ A^j.
    first = projected[:1] + ops.expand_dims(ops.matmul(initial_state, transition), 0)
    offsets = ops.concatenate([first, projected[1:]], axis=0)
    # Doubling (Hillis & Steele): after the round with shift k, each state
    # holds the terms j < 2k. ceil(log2 T) rounds of one batched matmul
    # each, with static shapes where the length is known, as XLA needs.
    state = (offsets, transition, 1)
    length = offsets.shape[0]
    if length is None:
        # Only in TensorFlow graphs, where a loop may change its slices.
        length = ops.shape(offsets)[0]
        return ops.while_loop(
            lambda states, power, shift: shift < length,
            lambda *state: _doubling_round(*state, length),
            state,
        )[0]
    while state[2] < length:
        state = _doubling_round(*state, length)
    return state[0]


def _doubling_round(states, power, shift, length):
    earlier = ops.concatenate(
        [ops.zeros_like(states[:shift]), states[: length - shift]], axis=0
    )
    return states + ops.matmul(earlier, power), ops.matmul(power, power), shift * 2


def recurrent_layer(cell, **kwargs):
    """`ArithmeticRNN(cell)` for an arithmetic cell, else `keras.layers.RNN(cell)`."""
    if isinstance(cell, ArithmeticCell):
        return ArithmeticRNN(cell, **kwargs)
    return keras.layers.RNN(cell, **kwargs)


@keras.saving.register_keras_serializable(package="nalu_rnn")
class ArithmeticRNN(keras.layers.RNN):
    """A faster `keras.layers.RNN` for cells built on an arithmetic unit.

    The output is that of `keras.layers.RNN(cell)` (up to float rounding),
    but the work that does not depend on the step is done once per
    sequence instead of once per step:

    * the unit's weights are derived once (the NAC's
      `W = tanh(W_hat) * sigmoid(M_hat)`, the NALU's paths and gate), so
      neither the forward nor the backward pass repeats that work per step;
    * with `parallel=True`, for cells linear in their state (`NACCell`,
      `NAUCell`), the inputs of all steps are projected in one matmul and
      the recurrence `h_t = h_{t-1} @ W_h + x_t @ W_x` runs as a parallel
      prefix scan: `ceil(log2(T))` rounds of one batched matmul each
      instead of `T` steps. It does `log2(T)` times the arithmetic
      of the loop, so it pays off where many cores are idle, on
      accelerators and under JAX; on a small CPU the loop is faster.

    With a mask or `unroll=True`, `parallel=True` falls back to the loop.
    All other arguments are those of `keras.layers.RNN`, and a model saved
    with it loads back as it was.

    Args:
        cell: A `nalu_rnn.ArithmeticCell` instance, such as
            `nalu_rnn.NACCell(8)`.
        parallel: Boolean, whether to run a linear cell's recurrence as a
            parallel prefix scan. Only for cells whose unit is linear
            (`NACCell`, `NAUCell`). Defaults to `False`.
        **kwargs: Arguments of `keras.layers.RNN`, such as
            `return_sequences`, `return_state`, `go_backwards`, `stateful`
            and `name`.

    Call arguments:
        sequences: A 3D tensor of shape `(batch, timesteps, input_dim)`.
        initial_state: Optional list holding the initial state
            `(batch, units)`. Defaults to the cell's `get_initial_state`.
        mask: Optional boolean tensor `(batch, timesteps)`; masked steps
            keep the previous state.
        training: Python boolean; the cells behave the same either way.

    Example:

    ```python
    x = np.random.uniform(size=(32, 1000, 3)).astype("float32")
    rnn = nalu_rnn.ArithmeticRNN(nalu_rnn.NACCell(2), parallel=True)
    h = rnn(x)  # shape (32, 2), as keras.layers.RNN(nalu_rnn.NACCell(2))
    ```

    Reference:
        - [Blelloch, 1990](https://www.cs.cmu.edu/~guyb/papers/Ble93.pdf),
          prefix sums and their applications.
    """

    def __init__(self, cell, parallel=False, **kwargs):
        if not isinstance(cell, ArithmeticCell):
            raise ValueError(
                "`cell` of ArithmeticRNN must be a nalu_rnn.ArithmeticCell "
                "(NACCell, NALUCell, ...); use keras.layers.RNN for other "
                f"cells. Received cell={cell!r}"
            )
        if not isinstance(parallel, bool):
            raise ValueError(
                "`parallel` of ArithmeticRNN must be True or False; "
                f"received parallel={parallel!r}"
            )
        if parallel and not cell.unit_class.linear:
            raise ValueError(
                "`parallel=True` needs a cell linear in its state, one of "
                f"{', '.join(_linear_cells())}; received a "
                f"{type(cell).__name__}"
            )
        super().__init__(cell, **kwargs)
        self.parallel = parallel

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if self.parallel and mask is None and not self.unroll:
            return self._parallel_loop(sequences, initial_state[0])
        with self.cell.weights_derived_once(sequences.dtype):
            return super().inner_loop(sequences, initial_state, mask, training)

    def _parallel_loop(self, sequences, state):
        kernel = ops.cast(self.cell.unit.derived_weights()[0], sequences.dtype)
        if self.go_backwards:
            sequences = ops.flip(sequences, axis=1)
        input_dim = sequences.shape[-1]
        projected = ops.matmul(ops.transpose(sequences, (1, 0, 2)), kernel[:input_dim])
        states = linear_recurrence(projected, state, kernel[input_dim:])
        last = states[-1]
        return last, ops.transpose(states, (1, 0, 2)), [last]

    def get_config(self):
        return {**super().get_config(), "parallel": self.parallel}
