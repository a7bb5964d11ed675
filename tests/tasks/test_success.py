"""Madsen & Johansen's success statistics (`tasks.success`): the Wilson
interval of a success rate, Student's t quantile, the MNIST reference
threshold, and the medians and errors the summaries use."""

import math

import numpy as np
import pytest

from tasks.success import (
    held_out_success,
    median_or_none,
    mse,
    reference_threshold,
    student_t_quantile,
    wilson_interval,
)


@pytest.mark.parametrize(
    "successes, trials, expected",
    [
        # Values from the closed form, checked against statsmodels'
        # proportion_confint(method="wilson").
        (10, 10, (0.7225, 1.0)),
        (9, 10, (0.5958, 0.9821)),
        (0, 10, (0.0, 0.2775)),
        (5, 10, (0.2366, 0.7634)),
        (98, 100, (0.9300, 0.9945)),
    ],
)
def test_wilson_interval_known_values(successes, trials, expected):
    low, high = wilson_interval(successes, trials)
    assert low == pytest.approx(expected[0], abs=1e-4)
    assert high == pytest.approx(expected[1], abs=1e-4)


@pytest.mark.parametrize("successes, trials", [(-1, 10), (11, 10), (0, 0)])
def test_wilson_interval_rejects_impossible_counts(successes, trials):
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, trials)


@pytest.mark.parametrize(
    "p, df, expected",
    # Student-t tables.
    [(0.99, 9, 2.821438), (0.975, 4, 2.776445), (0.99, 4, 3.746947),
     (0.999, 1, 318.3088), (0.5, 3, 0.0)],
)  # fmt: skip
def test_student_t_quantile_known_values(p, df, expected):
    assert student_t_quantile(p, df) == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_reference_threshold_is_the_upper_confidence_bound():
    errors = [1.0, 2.0, 3.0, 4.0, 5.0]
    expected = 3.0 + 3.746947 * np.std(errors, ddof=1) / np.sqrt(5)
    assert reference_threshold(errors) == pytest.approx(expected, rel=1e-6)
    for bad in ([1.0], [1.0, float("nan")]):
        with pytest.raises(ValueError, match="two or more finite"):
            reference_threshold(bad)


def test_held_out_success_judges_each_seed_by_the_others_bar():
    errors = [1.0, 1.1, 0.9, 1.0, 5.0]
    expected = [
        errors[i] < reference_threshold(errors[:i] + errors[i + 1 :])
        for i in range(len(errors))
    ]
    passes = held_out_success(errors)
    assert passes == expected
    # The outlier fails the tight bar of the four alike; each of those
    # passes the bar the outlier widens.
    assert passes == [True, True, True, True, False]
    with pytest.raises(ValueError, match="three or more"):
        held_out_success([1.0, 2.0])


def test_median_or_none_skips_the_missing_values():
    assert median_or_none([3.0, None, 1.0, 2.0]) == 2.0
    assert median_or_none([None, None]) is None
    assert median_or_none([]) is None


def test_mse_is_float64_and_infinite_where_a_prediction_overflowed():
    assert mse([[1.0]], [[3.0]]) == 4.0
    # float32 would round 1 + 2^-30 to 1.
    assert mse(np.float64([1.0]), np.float64([1.0 + 2.0**-30])) > 0
    assert mse([[1.0]], [[np.inf]]) == math.inf
    assert mse([[1.0]], [[np.nan]]) == math.inf
