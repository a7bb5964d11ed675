"""The short-length curriculum (`tasks.curriculum`)."""

from tasks.curriculum import CURRICULUM_FRACTION, curriculum_lengths, stage_steps


def test_curriculum_lengths():
    assert curriculum_lengths(10) == [1, 2, 5]
    assert curriculum_lengths(1) == []


def test_stages_share_a_fraction_of_the_steps():
    assert CURRICULUM_FRACTION == 0.2
    # 20% of 2000 steps over the three stages of length 10.
    assert stage_steps(10, 2000) == 133
    # Length 3 has two shorter lengths (1, 2): 2 steps each of 20.
    assert curriculum_lengths(3) == [1, 2] and stage_steps(3, 20) == 2
    assert stage_steps(1, 2000) == 400  # no stage: nothing trains at it
