"""Initializers (`nalu_rnn.initializers`)."""

import numpy as np
import pytest

import nalu_rnn
from tests.support.arrays import as_numpy, assert_array_equal


def test_state_identity_sets_state_block_only():
    init = nalu_rnn.StateIdentity(4.0, base="zeros")
    kernel = as_numpy(init((5, 2)))
    assert_array_equal(kernel[:3], np.zeros((3, 2)))
    assert_array_equal(kernel[3:], [[4.0, -4.0], [-4.0, 4.0]])
    clone = nalu_rnn.StateIdentity.from_config(init.get_config())
    assert_array_equal(as_numpy(clone((5, 2))), kernel)
    with pytest.raises(ValueError, match="StateIdentity needs a cell kernel"):
        init((1, 2))
