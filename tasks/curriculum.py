"""A short-length curriculum: a few shorter lengths before the training length.

The MNIST recipe trains its first `CURRICULUM_FRACTION` of steps at the
lengths `curriculum_lengths` gives (1, 2, 5 before 10), so that the encoder
first learns from nearly single-image targets.
"""

import numpy as np

CURRICULUM_FRACTION = 0.2
CURRICULUM_STAGES = 3


def curriculum_lengths(train_length, stages=CURRICULUM_STAGES):
    """Shorter lengths trained before `train_length`, spaced geometrically.

    Args:
        train_length: The final training length.
        stages: Number of shorter lengths wanted (fewer when they coincide).
            Defaults to 3.

    Returns:
        Sorted list of distinct lengths in `[1, train_length)`; `[1, 2, 5]`
        for length 10, empty for length 1.
    """
    points = np.geomspace(1, train_length, stages + 1)[:-1]
    return sorted({int(round(p)) for p in points} - {train_length})


def stage_steps(train_length, steps, fraction=CURRICULUM_FRACTION):
    """The steps of each curriculum stage: `fraction` of `steps`, shared
    equally by the stages of `curriculum_lengths(train_length)`."""
    return round(fraction * steps / max(len(curriculum_lengths(train_length)), 1))
