"""The MNIST sequence models: a ConvNet digit encoder applied to every image
of a sequence, followed by a recurrent head.

A sequence model is built from two named parts so that a saved model can be
evaluated *encode-once*: `model.get_layer("encoder")` maps single images to
embeddings and `model.get_layer("head")` maps a sequence of embeddings to the
output. Encoding the 10000 test images once and gathering their embeddings
makes length-1000 sequences as cheap to evaluate as length-10 ones
(`encode_images`, `predict_from_embeddings`).
"""

import keras
import numpy as np

from nalu_rnn._validation import (
    validate_array,
    validate_non_negative_float,
    validate_positive_int,
)
from nalu_rnn.callbacks import StepChange
from nalu_rnn.initializers import BlockIdentity, StateBlockIdentity
from nalu_rnn.keras_internals import flatten_layers
from nalu_rnn.rnn import recurrent_layer
from nalu_rnn.time_folding import FoldTime, UnfoldTime
from tasks.cells import MEMORY_START, get_cell_spec, regularizer_kwargs

IMAGE_INPUT_SHAPE = (28, 28, 1)
# The `classes` encoder's read-out of each class's value (addition, the
# product), which the experiment hardens after the head.
VALUE_LAYER = "digit_value"


@keras.saving.register_keras_serializable(package="tasks.mnist")
class ClassBalance(keras.layers.Layer):
    """Passes class probabilities through and penalises unused classes, and
    optionally undecided images.

    In training, adds `strength * (log(k) - H(q))` to the model's losses,
    where `q` is the mean of the `k` class probabilities over the batch
    (every image of every sequence) and `H` its entropy: 0 when the batch
    uses every class equally, `strength * log(k)` when it sends every image
    to one class. A softmax encoder followed by a value read-out that
    starts at random falls into that collapse within the first steps: the
    class whose value moves fastest takes every image, its softmax
    saturates and the other classes get no gradient again. With
    `confidence`, it also adds `confidence * mean(H(p))`, the mean entropy
    of each image's own probabilities `p`: 0 when every image goes to one
    class. Without it, a head can learn a code over several classes per
    image (a digit as half of one class and half of another) that sums
    right only while the encoder keeps those halves even. Together the two
    are the mutual information of images and classes that clustering
    methods maximise. Neither knows a label, a digit value or an
    operation.

    Args:
        strength: Non-negative float, the weight of the balance over the
            batch. Defaults to `1.0`.
        confidence: Non-negative float, the weight of the images' mean
            entropy. Defaults to `0.0`.
        **kwargs: Base layer keyword arguments, such as `name`.

    Call arguments:
        inputs: Class probabilities, `(batch, k)`.
        training: Python boolean; the penalties are added in training only.

    Example:

    ```python
    balance = tasks.mnist.model.ClassBalance(10.0, confidence=1.0)
    p = balance(np.full((4, 10), 0.1, "float32"), training=True)  # p as given
    ```
    """

    def __init__(self, strength=1.0, confidence=0.0, **kwargs):
        super().__init__(**kwargs)
        self.strength = validate_non_negative_float(
            strength, "strength", "ClassBalance"
        )
        self.confidence = validate_non_negative_float(
            confidence, "confidence", "ClassBalance"
        )

    def call(self, inputs, training=False):
        if not training:
            return inputs
        if self.strength > 0:
            usage = keras.ops.mean(inputs, axis=0)
            classes = keras.ops.shape(inputs)[-1]
            self.add_loss(self.strength * (np.log(classes) - _entropy(usage)))
        if self.confidence > 0:
            self.add_loss(self.confidence * keras.ops.mean(_entropy(inputs)))
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "strength": self.strength,
            "confidence": self.confidence,
        }


class ClassBalanceStop(StepChange):
    """Switches off every `ClassBalance` of a model at a training step.

    The balance and confidence terms are there to find the head: they keep
    every class in use and every image decided while the head's weights
    are far from a solution. Once the head is exact (`--weight-snap`),
    what they add is a pull on the encoder that the task does not ask for
    (towards equal class use, which the digits do not have), so from
    `step` on the model trains on its task's loss alone, as the reference
    model does. The step counts from the start of training, also in a run
    resumed from a checkpoint (`nalu_rnn.callbacks.StepChange`).

    Args:
        step: Non-negative integer, the training step (batches since the
            first epoch) from which the terms are 0.

    Example:

    ```python
    stop = tasks.mnist.model.ClassBalanceStop(1000)
    model.fit(x, y, callbacks=[stop])
    stop.changed_at  # 1000
    ```
    """

    def change(self, model):
        for layer in flatten_layers(model):
            if isinstance(layer, ClassBalance):
                layer.strength = 0.0
                layer.confidence = 0.0


def _entropy(probabilities):
    """Entropy over the last axis; 0 * log(0) is 0, so a class never used
    adds none."""
    logs = keras.ops.log(probabilities + 1e-12)
    return -keras.ops.sum(probabilities * logs, axis=-1)


def digit_encoder(
    output_dim,
    conv_filters=(20, 50),
    kernel_size=5,
    dense_units=500,
    digit_classes=False,
    digit_values=False,
    class_balance=0.0,
    class_confidence=0.0,
):
    """The ConvNet that maps one MNIST image to an embedding.

    `Conv(kernel_size, conv_filters[0], relu) -> MaxPool 2x2 -> Conv(...,
    conv_filters[1], relu) -> MaxPool 2x2 -> Dense(dense_units, relu) ->
    Dense(output_dim)`, the LeNet-style setup of the paper's MNIST
    experiments. By default the last layer is linear: for an arithmetic head
    the embedding is what gets added up (a digit value, or a one-hot-like
    class vector), so it must not be squashed.

    With `digit_classes=True` the image is classified first: the last layer
    is a softmax over the 10 digits, followed, when `output_dim != 10`, by a
    bias-free `Dense(output_dim)` named `"digit_value"`, the value each
    class stands for, learnt from its own random start (with
    `digit_values=True`, a warm start at the digit values 0..9: the answer).
    A class vector sums to exactly 1 per image and a confident one is
    exactly one-hot, so a running sum of it cannot drift the way a sum of
    unconstrained regressions does.

    Args:
        output_dim: Positive integer, size of the embedding.
        conv_filters: Filters of each convolution, in order; one pooling
            layer follows each. Defaults to `(20, 50)`.
        kernel_size: Side of the square convolution kernels. Defaults to `5`.
        dense_units: Width of the hidden dense layer. Defaults to `500`.
        digit_classes: Whether the embedding goes through a softmax over the
            10 digit classes (see above). Defaults to `False`.
        digit_values: Whether the `"digit_value"` read-out starts at the
            digit values 0..9, a warm start (`--head-init exact`). Defaults
            to `False`.
        class_balance: With `digit_classes`, the strength of a
            `ClassBalance` after the softmax, named `"class_balance"`
            (`--class-balance`); 0 adds none. Defaults to `0.0`.
        class_confidence: Its `confidence` (`--class-confidence`); the
            layer is added when either is positive. Defaults to `0.0`.

    Returns:
        A `keras.Model` named `"encoder"` from `(batch, 28, 28, 1)` float
        images in [0, 1] to `(batch, output_dim)`.

    Example:

    ```python
    encoder = tasks.mnist.model.digit_encoder(10)
    z = encoder(np.zeros((4, 28, 28, 1), "float32"))  # shape (4, 10)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508)
    """
    output_dim = validate_positive_int(output_dim, "output_dim", "digit_encoder")
    inputs = keras.Input(IMAGE_INPUT_SHAPE, name="image")
    x = inputs
    for i, filters in enumerate(conv_filters):
        x = keras.layers.Conv2D(
            filters, kernel_size, activation="relu", name=f"conv_{i}"
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool_{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(dense_units, activation="relu", name="hidden")(x)
    if not digit_classes:
        outputs = keras.layers.Dense(output_dim, name="embedding")(x)
        return keras.Model(inputs, outputs, name="encoder")
    outputs = keras.layers.Dense(10, activation="softmax", name="embedding")(x)
    if class_balance > 0 or class_confidence > 0:
        balance = ClassBalance(
            class_balance, confidence=class_confidence, name="class_balance"
        )
        outputs = balance(outputs)
    if output_dim != 10:
        value = keras.layers.Dense(output_dim, use_bias=False, name=VALUE_LAYER)
        outputs = value(outputs)
        if digit_values:
            # Set once here rather than by an initializer: the start is data
            # (the digit values), and the saved weights carry it from then on.
            value.kernel.assign(
                np.tile(np.arange(10, dtype="float32")[:, None], (1, output_dim))
            )
    return keras.Model(inputs, outputs, name="encoder")


def _probe_unit(make_cell, input_dim):
    """The unit of a one-unit cell from `make_cell`, built for `input_dim`."""
    probe = make_cell(1)
    probe.build((None, input_dim))
    return probe.unit


def _has_gated_kernels(make_cell, input_dim):
    """Whether the cell's weights are `tanh(W_hat) * sigmoid(M_hat)` (NAC,
    NALU, iNALU) rather than used directly (NAU, NMU and the cells built on
    them)."""
    return bool(_probe_unit(make_cell, input_dim).gated_pairs())


def memory_start(spec, make_cell, input_dim):
    """Keyword arguments that start a head's cell as a memory of its state.

    The prior every arithmetic cell of both task families starts with
    (`--state-memory`): the state-to-state block at the identity, the input
    block from the unit's own initializer. The registry's cell gets its
    entry's start (`CellSpec.identity_kwargs`, as in
    `tasks.arithmetic.model.arithmetic_model`); a cell that multiplies over
    time (`make_product_cell`) keeps its state exactly,
    `h_t = h_{t-1} * f(x_t)`.
    """
    if make_cell is spec.make_cell and spec.identity_kwargs is not None:
        return spec.identity_kwargs(MEMORY_START)
    unit_class = type(_probe_unit(make_cell, input_dim))
    base = unit_class.default_kernel_initializer()
    return {"kernel_initializer": StateBlockIdentity(1.0, base=base)}


def sequence_head(
    cell,
    embed_dim,
    output_dim,
    units=None,
    return_sequences=False,
    arithmetic_regularizer=None,
    identity_value=10.0,
    raw_regularizer=None,
    multiplicative=False,
    target_scale=None,
    state_memory=True,
):
    """The recurrent part of a sequence model: `RNN(cell)` and its read-out.

    With `identity_value`, an arithmetic cell's kernels start at
    `BlockIdentity(identity_value)` (cells whose kernel is used directly,
    such as NAU, at `BlockIdentity(1.0)`): the exact running sum of the
    embeddings, a warm start that knows the answer (`--head-init exact`).
    Without it they start from the unit's own initializer, the state block
    at the identity where `state_memory` (`memory_start`). When
    `units == output_dim` the state is the output: the running count or sum
    *is* the target, and a read-out would be one more weight that has to be
    learnt as exactly 1 to extrapolate. Otherwise the cell's registered
    read-out follows, named `"readout"` (a `NAC` for arithmetic cells, a
    `Dense` for the baselines).

    With `multiplicative=True` (a running product, `mnist_product`) the cell
    is the entry's `make_product_cell` where it has one: an `NMUCell` with
    initial state 1, whose `BlockIdentity(1.0)` start is the exact running
    product `h_t = h_{t-1} * x_t`. An entry without one keeps its usual
    cell, which can only do what that cell can (a NAC head sums).

    Args:
        cell: A registered cell name (`tasks.cells.CELLS`).
        embed_dim: Size of each step's embedding.
        output_dim: Size of the output (10 for counting, 1 for addition).
        units: State size; `None` (default) uses `output_dim` for arithmetic
            cells and 32 for the baselines.
        return_sequences: Whether to output every step `(batch, time,
            output_dim)` instead of the last one. Defaults to `False`.
        arithmetic_regularizer: Regularizer of the effective arithmetic
            weights (arithmetic cells only). Defaults to `None`.
        identity_value: Diagonal value of `BlockIdentity` for arithmetic
            cells (the warm start); `None` starts from the unit's own
            initializer. Defaults to `10.0`.
        raw_regularizer: Regularizer of the arithmetic layers' raw kernels
            and gates (`tasks.cells.regularizer_kwargs`). Defaults to
            `None`.
        multiplicative: Whether the target is a product over time, so that
            the entry's cell that multiplies over time is used (see above).
            Defaults to `False`.
        target_scale: `(offset, scale)` of a `Rescaling` after the read-out
            (`--scale-targets`), or `None`. Defaults to `None`.
        state_memory: Whether a cell not started at `identity_value` starts
            as a memory of its state (`memory_start`). Defaults to `True`.

    Returns:
        A `keras.Model` named `"head"` from `(batch, time, embed_dim)`.

    Example:

    ```python
    head = tasks.mnist.model.sequence_head("nac", embed_dim=1, output_dim=1)
    y = head(np.ones((2, 5, 1), "float32"))  # about 5.0
    ```
    """
    spec = get_cell_spec(cell)
    embed_dim = validate_positive_int(embed_dim, "embed_dim", "sequence_head")
    output_dim = validate_positive_int(output_dim, "output_dim", "sequence_head")
    if units is None:
        units = output_dim if spec.arithmetic else 32
    readout_kwargs = regularizer_kwargs(spec, arithmetic_regularizer, raw_regularizer)
    cell_kwargs = dict(readout_kwargs)
    make_cell = spec.make_cell
    if multiplicative and spec.make_product_cell is not None:
        make_cell = spec.make_product_cell
    if spec.arithmetic:
        if identity_value is not None:
            cell_kwargs["kernel_initializer"] = BlockIdentity(
                identity_value if _has_gated_kernels(make_cell, embed_dim) else 1.0
            )
        elif state_memory:
            cell_kwargs.update(memory_start(spec, make_cell, embed_dim))
    inputs = keras.Input((None, embed_dim), name="embeddings")
    layer = recurrent_layer(
        make_cell(units, **cell_kwargs),
        return_sequences=return_sequences,
        name="recurrent",
    )
    outputs = layer(inputs)
    has_readout = not (spec.arithmetic and units == output_dim)
    if has_readout:
        readout = spec.make_readout(output_dim, name="readout", **readout_kwargs)
        outputs = readout(outputs)
    if target_scale is not None:
        if not has_readout:
            raise ValueError(
                "sequence_head: target_scale needs a read-out; the state of "
                f"this {cell!r} head is its output"
            )
        offset, scale = (_per_output(v, output_dim) for v in target_scale)
        outputs = keras.layers.Rescaling(scale, offset, name="target_scale")(outputs)
    return keras.Model(inputs, outputs, name="head")


def _per_output(values, output_dim):
    """A list of `output_dim` floats from a scalar or a sequence of them."""
    values = np.broadcast_to(np.asarray(values, "float64"), (output_dim,))
    return [float(v) for v in values]


def sequence_model(
    cell,
    task_output_dim,
    embed_dim=None,
    units=None,
    return_sequences=False,
    arithmetic_regularizer=None,
    identity_value=10.0,
    encoder_kwargs=None,
    raw_regularizer=None,
    multiplicative=False,
    target_scale=None,
    state_memory=True,
):
    """A digit encoder applied to every image, then a recurrent head.

    `images (batch, time, 28, 28, 1) -> FoldTime -> encoder -> UnfoldTime
    -> head`. The encoder runs on all `batch * time` images in one call;
    `model.get_layer("encoder")` and `model.get_layer("head")` return the
    two parts (also after `keras.models.load_model`) for encode-once
    evaluation.

    Args:
        cell: A registered cell name (`tasks.cells.CELLS`).
        task_output_dim: Size of the target (10 for `mnist_count`, 1 for
            `mnist_add` and `mnist_product`).
        embed_dim: Size of the encoder output; `None` (default) uses
            `task_output_dim` for arithmetic cells (a class vector to count,
            or a digit value to add or multiply) and 10 for the baselines.
        units: State size of the cell; see `sequence_head`. Defaults to
            `None`.
        return_sequences: Whether the model outputs every step (for
            every-step supervision). Defaults to `False`.
        arithmetic_regularizer: See `sequence_head`. Defaults to `None`.
        identity_value: See `sequence_head`. Defaults to `10.0`.
        encoder_kwargs: Dict of extra arguments of `digit_encoder`.
            Defaults to `None`.
        raw_regularizer: See `sequence_head`. Defaults to `None`.
        multiplicative: Whether the target is a product over time; see
            `sequence_head`. Defaults to `False`.
        target_scale: See `sequence_head`. Defaults to `None`.
        state_memory: See `sequence_head`. Defaults to `True`.

    Returns:
        An uncompiled `keras.Model` named `"{cell}_digits"`.

    Example:

    ```python
    model = tasks.mnist.model.sequence_model("nac", 10)
    y = model(np.zeros((2, 7, 28, 28, 1), "float32"))  # shape (2, 10)
    ```

    Reference:
        - [Trask et al., 2018](https://arxiv.org/abs/1808.00508)
    """
    spec = get_cell_spec(cell)
    task_output_dim = validate_positive_int(
        task_output_dim, "task_output_dim", "sequence_model"
    )
    if embed_dim is None:
        embed_dim = task_output_dim if spec.arithmetic else 10
    encoder = digit_encoder(embed_dim, **(encoder_kwargs or {}))
    head = sequence_head(
        cell,
        embed_dim,
        task_output_dim,
        units=units,
        return_sequences=return_sequences,
        arithmetic_regularizer=arithmetic_regularizer,
        identity_value=identity_value,
        raw_regularizer=raw_regularizer,
        multiplicative=multiplicative,
        target_scale=target_scale,
        state_memory=state_memory,
    )
    images = keras.Input((None,) + IMAGE_INPUT_SHAPE, name="images")
    folded = FoldTime(name="fold_time")(images)
    embeddings = UnfoldTime(name="unfold_time")([encoder(folded), images])
    return keras.Model(images, head(embeddings), name=f"{cell}_digits")


def encode_images(model, images, batch_size=1000):
    """Embeds single images with the encoder of a sequence model.

    Args:
        model: A model from `sequence_model` (or its encoder itself).
        images: uint8 array `(N, 28, 28)` (scaled by 1/255 here, as the
            training pipelines do) or float array `(N, 28, 28, 1)` in [0, 1].
        batch_size: Images per forward pass. Defaults to `1000`.

    Returns:
        float32 NumPy array `(N, embed_dim)`.
    """
    encoder = model if model.name == "encoder" else model.get_layer("encoder")
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = validate_array(
            images, "images", "encode_images", 3, "integer", "(N, 28, 28) of uint8"
        )
        images = images.astype("float32")[..., None] / 255.0
    else:
        images = validate_array(
            images, "images", "encode_images", 4, "float", "(N, 28, 28, 1)"
        )
    return np.asarray(encoder.predict(images, batch_size=batch_size, verbose=0))


def predict_from_embeddings(model, embeddings, indices, batch_size=250):
    """Final outputs of sequences given as indices into precomputed embeddings.

    Runs only the head over `embeddings[indices]`; equal (up to float
    rounding) to running the whole model on the gathered images.

    Args:
        model: A model from `sequence_model` (or its head itself).
        embeddings: Array `(N, embed_dim)` from `encode_images`.
        indices: Integer array `(num_sequences, length)` into `embeddings`.
        batch_size: Sequences per forward pass. Defaults to `250`.

    Returns:
        float32 NumPy array `(num_sequences, output_dim)`, the output after
        the last step (also for heads built with `return_sequences=True`).
    """
    head = model if model.name == "head" else model.get_layer("head")
    owner = "predict_from_embeddings"
    embeddings = validate_array(
        embeddings, "embeddings", owner, 2, "float", "(N, embed_dim)"
    )
    indices = validate_array(
        indices, "indices", owner, 2, "integer", "(num_sequences, length)"
    )
    if indices.size and not 0 <= indices.min() <= indices.max() < len(embeddings):
        raise ValueError(
            f"`indices` of {owner} must lie in [0, {len(embeddings)}) (rows of "
            f"`embeddings`); received indices in [{indices.min()}, "
            f"{indices.max()}]"
        )
    x = embeddings[indices]
    # `predict` compiles the head once per length; eager calls would run a
    # 1000-step loop op by op on some backends.
    y = np.asarray(head.predict(x, batch_size=batch_size, verbose=0))
    return y[:, -1] if y.ndim == 3 else y
