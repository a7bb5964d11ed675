"""Training callbacks for arithmetic units."""

import keras


class SparsityWarmup(keras.callbacks.Callback):
    """Switches a `SparsityRegularizer` on after a warm-up, then ramps it up.

    The sparsity penalty pulls weights to {-1, 0, 1} before the network has
    found which inputs matter if it is on from the start; Madsen & Johansen
    therefore keep it at 0 for a warm-up and then raise it linearly. The
    strength is changed at the start of an epoch and the training function
    is rebuilt, so the new value takes effect on every backend.

    Args:
        regularizer: The `nalu_rnn.SparsityRegularizer` shared by the units.
        strength: Final strength. Defaults to `0.05`.
        start_epoch: First epoch with a non-zero strength. Defaults to `1`.
        ramp_epochs: Epochs over which the strength rises linearly to
            `strength`. Defaults to `1` (full strength at once).

    Example:

    ```python
    reg = nalu_rnn.SparsityRegularizer(0.0)
    cell = nalu_rnn.NACCell(2, arithmetic_regularizer=reg)
    callback = nalu_rnn.callbacks.SparsityWarmup(reg, 0.05, start_epoch=3)
    ```
    """

    def __init__(self, regularizer, strength=0.05, start_epoch=1, ramp_epochs=1):
        super().__init__()
        if ramp_epochs < 1:
            raise ValueError(
                f"`ramp_epochs` must be >= 1; received ramp_epochs={ramp_epochs!r}"
            )
        self.regularizer = regularizer
        self.strength = float(strength)
        self.start_epoch = int(start_epoch)
        self.ramp_epochs = int(ramp_epochs)

    def strength_at(self, epoch):
        progress = (epoch - self.start_epoch + 1) / self.ramp_epochs
        return self.strength * min(1.0, max(0.0, progress))

    def on_epoch_begin(self, epoch, logs=None):
        value = self.strength_at(epoch)
        if value != self.regularizer.strength:
            self.regularizer.strength = value
            self.model.make_train_function(force=True)
