"""Folding a sequence's time axis into its batch axis, and back.

`FoldTime` and `UnfoldTime` apply a per-example model (an image encoder,
say) to every step of a sequence in one batched call:
`(batch, time, ...) -> (batch * time, ...) -> model -> (batch, time, ...)`.
They replace `keras.layers.TimeDistributed`, which in Keras 3 fails on the
TensorFlow backend when the number of steps is unknown when the model is
built.
"""

import keras
from keras import ops

__all__ = ["FoldTime", "UnfoldTime"]


@keras.saving.register_keras_serializable(package="nalu_rnn")
class FoldTime(keras.layers.Layer):
    """Folds the time axis into the batch axis: `(b, t, ...)` -> `(b * t, ...)`.

    Together with `UnfoldTime` this applies a per-image model to every step
    of a sequence in one batched call. It replaces `TimeDistributed`, which
    in Keras 3 fails on the TensorFlow backend when the number of steps is
    not known when the model is built.

    Example:

    ```python
    images = keras.Input((None, 28, 28, 1))
    folded = nalu_rnn.FoldTime()(images)  # (None, 28, 28, 1)
    ```
    """

    def call(self, inputs):
        # Images without a time axis, (batch, 28, 28, 1), would be folded
        # into nonsense and fail later in the encoder's convolutions. The
        # rank is static: this is a Python check, not a tensor op.
        if len(inputs.shape) < 3:
            raise ValueError(
                "FoldTime expects inputs of rank >= 3 (batch, time, ...), such "
                "as image sequences (batch, time, 28, 28, 1); received inputs "
                f"of shape {tuple(inputs.shape)} (rank {len(inputs.shape)})"
            )
        shape = ops.shape(inputs)
        return ops.reshape(inputs, (-1,) + tuple(shape[2:]))

    def compute_output_shape(self, input_shape):
        batch, steps = input_shape[0], input_shape[1]
        folded = None if batch is None or steps is None else batch * steps
        return (folded,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="nalu_rnn")
class UnfoldTime(keras.layers.Layer):
    """Restores the time axis folded away by `FoldTime`.

    Called on `[folded, reference]`, it reshapes `folded` of shape
    `(b * t, ...)` to `(b, t, ...)`, taking `b` and `t` from the first two
    axes of `reference` (the unfolded input), so that both may vary from
    call to call.

    Example:

    ```python
    images = keras.Input((None, 28, 28, 1))
    z = encoder(nalu_rnn.FoldTime()(images))  # (None, 10)
    z = nalu_rnn.UnfoldTime()([z, images])  # (None, None, 10)
    ```
    """

    def call(self, inputs):
        folded, reference = inputs
        batch_steps = tuple(ops.shape(reference)[:2])
        return ops.reshape(folded, batch_steps + tuple(ops.shape(folded)[1:]))

    def compute_output_shape(self, input_shape):
        folded, reference = input_shape
        return tuple(reference[:2]) + tuple(folded[1:])
