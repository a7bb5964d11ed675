"""Argument checks shared by the MNIST loaders, sequences and pipelines."""

import numbers

import numpy as np


def check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive integer; received {name}={value!r}"
        )
    return int(value)


def check_seed(seed):
    if (
        isinstance(seed, bool)
        or not isinstance(seed, numbers.Integral)
        or not 0 <= seed < 2**63
    ):
        raise ValueError(
            f"`seed` must be a non-negative integer below 2**63; received seed={seed!r}"
        )
    return int(seed)


def check_images_labels(images, labels, require_uint8=True):
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim < 1 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"`images` (shape {images.shape}) and `labels` (shape {labels.shape}) "
            f"must hold the same number N of images and labels, labels of "
            f"shape (N,)"
        )
    if len(images) == 0:
        raise ValueError("`images` and `labels` must not be empty")
    if require_uint8 and (images.ndim != 3 or images.dtype != np.uint8):
        raise ValueError(
            f"`images` must be uint8 of shape (N, height, width); received "
            f"dtype {images.dtype} and shape {images.shape}"
        )
    return images, labels
