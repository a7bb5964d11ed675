"""Madsen & Johansen's success measures: the statistics behind them.

* success rate over seeds with a 95% Wilson score interval, which stays
  inside [0, 1] and is honest at 0/n and n/n, unlike the normal
  approximation (their paper reports the same interval);
* the MNIST tasks' thresholds, the one-sided upper bound of a solved
  reference's mean error (`reference_threshold`);
* `mse` in float64, infinite where a prediction overflowed.

The arithmetic tasks' threshold is `ArithmeticTask.perturbed_solution_mse`,
their solved step `tasks.training.SolvedStepMonitor`'s.

Reference: Madsen & Johansen, "Neural Arithmetic Units", ICLR 2020,
arXiv:2001.05016, section 4 and appendix C.
"""

import math
import statistics

import numpy as np

# Two-sided 95% normal quantile.
Z_95 = 1.959963984540054


def wilson_interval(successes, trials, z=Z_95):
    """The Wilson score interval `(low, high)` of a binomial proportion.

    Args:
        successes: Number of successful trials, `0 <= successes <= trials`.
        trials: Positive number of trials.
        z: Normal quantile; the default gives a 95% interval.

    Returns:
        A tuple of two floats in [0, 1]. For 10 successes out of 10 it is
        `(0.722, 1.0)`; for 9 out of 10, `(0.596, 0.982)`.
    """
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(
            "wilson_interval needs 0 <= successes <= trials and trials > 0; "
            f"received successes={successes}, trials={trials}"
        )
    p = successes / trials
    z2 = z * z
    denominator = 1.0 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials**2))
    # Clamp the rounding error at 0/n and n/n, where the exact bound is 0 or 1.
    return max(0.0, center - half), min(1.0, center + half)


def student_t_quantile(p, df):
    """The `p`-quantile of Student's t distribution with `df` degrees of freedom.

    The density is integrated with Simpson's rule and the quantile found by
    bisection, to about 1e-9: enough for a threshold, and no scipy.

    Args:
        p: Probability in [0.5, 1).
        df: Positive degrees of freedom.

    Returns:
        The float `t` with `P(T <= t) = p`; e.g. 2.8214 for `p=0.99, df=9`.
    """
    if not 0.5 <= p < 1 or not df > 0:
        raise ValueError(
            "student_t_quantile needs 0.5 <= p < 1 and df > 0; "
            f"received p={p!r}, df={df!r}"
        )
    log_norm = (
        math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    )

    def density(x):
        return math.exp(log_norm - (df + 1) / 2 * math.log1p(x * x / df))

    def cdf(t, intervals=2000):
        h = t / intervals
        inner = sum((4 if i % 2 else 2) * density(i * h) for i in range(1, intervals))
        return 0.5 + h / 3 * (density(0.0) + inner + density(t))

    low, high = 0.0, 1.0
    while cdf(high) < p:
        low, high = high, 2 * high
    while high - low > 1e-10:
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < p else (low, middle)
    return (low + high) / 2


def reference_threshold(errors, alpha=0.01):
    """Madsen & Johansen's MNIST success threshold from a solved reference.

    The MSEs `errors` of a reference model over seeds (its arithmetic head
    fixed at the exact solution, only the image encoder trained) give the
    one-sided upper `1 - alpha` confidence bound of their mean, assuming a
    Student-t distribution: `mean + t(1 - alpha, n - 1) * sd / sqrt(n)`. A
    model succeeds at a length when its MSE there is below this bound: no
    worse than an exact head on an encoder trained as well as the reference.

    Args:
        errors: Two or more finite MSEs, one per reference seed.
        alpha: One-sided level. Defaults to `0.01` (theirs).

    Returns:
        The threshold, a float.
    """
    errors = [float(e) for e in errors]
    if len(errors) < 2 or not all(math.isfinite(e) for e in errors):
        raise ValueError(
            f"reference_threshold needs two or more finite errors; received {errors!r}"
        )
    n = len(errors)
    spread = statistics.stdev(errors) / math.sqrt(n)
    return statistics.fmean(errors) + student_t_quantile(1 - alpha, n - 1) * spread


def held_out_success(errors, alpha=0.01):
    """Whether each reference seed passes the threshold of the others.

    The reference itself is a run with the exact head; judged by the bar of
    the remaining seeds (`reference_threshold`), each of its seeds shows how
    often a run as good as the reference, but no better, succeeds. That
    rate, not 100%, is the ceiling of a head that learns to be exact: the
    bar bounds the reference's mean, so a run from the reference's own
    spread fails wherever it is worse than that mean by more than the
    bound's margin.

    Args:
        errors: Three or more finite MSEs, one per reference seed.
        alpha: One-sided level. Defaults to `0.01` (theirs).

    Returns:
        A list of booleans, one per seed of `errors`, in order.
    """
    errors = [float(e) for e in errors]
    if len(errors) < 3:
        raise ValueError(
            f"held_out_success needs three or more errors; received {errors!r}"
        )
    return [
        error < reference_threshold(errors[:i] + errors[i + 1 :], alpha)
        for i, error in enumerate(errors)
    ]


def median_or_none(values):
    """Median of the values that are not `None`; `None` when there are none."""
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def mse(y_true, y_pred):
    """Mean squared error in float64; `inf` when the prediction overflowed."""
    err = np.asarray(y_pred, np.float64) - np.asarray(y_true, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        value = float(np.mean(err * err))
    return value if math.isfinite(value) else math.inf
