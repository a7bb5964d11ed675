"""Deprecated: the MNIST sequence models moved to `tasks.mnist.model`.

`nalu_rnn.digits` is kept for one minor version so that scripts written
against it still run; import `tasks.mnist.model` (the encoder, the head,
encode-once evaluation), `nalu_rnn.FoldTime` / `nalu_rnn.UnfoldTime` and
`nalu_rnn.hardening.harden_cells` instead.
"""

import warnings

from nalu_rnn.hardening import harden_cells
from nalu_rnn.time_folding import FoldTime, UnfoldTime
from tasks.mnist.model import (
    IMAGE_INPUT_SHAPE,
    digit_encoder,
    encode_images,
    predict_from_embeddings,
    sequence_head,
    sequence_model,
)

warnings.warn(
    "nalu_rnn.digits is deprecated and will be removed in nalu_rnn 0.3: the MNIST "
    "models are in tasks.mnist.model, FoldTime and UnfoldTime in nalu_rnn, "
    "harden_cells in nalu_rnn.hardening",
    DeprecationWarning,
    stacklevel=2,
)

__all__ = [
    "IMAGE_INPUT_SHAPE",
    "FoldTime",
    "UnfoldTime",
    "digit_encoder",
    "encode_images",
    "harden_cells",
    "predict_from_embeddings",
    "sequence_head",
    "sequence_model",
]
