"""Arithmetic tasks: learn `op(a, b)` where `a` and `b` are sums of fixed
subsets of the input, over a sequence (recurrent) or one vector (static).

Recurrent task (Trask et al. 2018, section 4.1), defaults:

* each step `t` gives a vector `x_t` of `input_dim = 10` values;
* `a = sum over t and i in A of x_t[i]`, `b` likewise over subset `B`; the
  target is `op(a, b)` at the last step (`square` and `sqrt` use `a` alone);
* training sequences have length `train_length = 10`, values U[0, 1];
* interpolation test: same length and range; extrapolation tests: lengths
  100 and 1000, same range (the sums, and so the targets, grow with length).

Static task (Madsen & Johansen 2020's setting), defaults:

* one vector of `input_dim = 100` values, `a`, `b` sums over `A`, `B`;
* training and interpolation values U[1, 2], extrapolation values U[2, 6].

Subsets, both tasks: a permutation `p` of the input indices drawn from
`subset_seed`; with `s = max(1, round(subset_ratio * input_dim))` and
`o = round(overlap_ratio * s)`, `A = p[0:s]` and `B = p[s - o : 2s - o]`
(`subset_ratio = 0.25`, `overlap_ratio = 0.5`). For `input_dim = 10` that is
two indices each, one shared; for 100, 25 each, 12 shared. A run's
`subset_seed` is its own seed unless `--subset-seed` pins one (as
stable-nalu draws each run's subsets from its seed), so every seed faces a
problem instance of its own.

Value ranges: any `train_range`, and one or several extrapolation ranges
(their union), signed or not (`uniform_over`).

Data is drawn with `numpy.random.default_rng`, so the same seed gives the
same arrays on every backend.
"""

import dataclasses

import numpy as np

from tasks.success import mse  # noqa: F401 - the tasks' error, re-exported

OPS = ("add", "sub", "mul", "div", "square", "sqrt")

# The exact solution of each op as read-out exponents/coefficients on (a, b):
# additive ops are linear in (a, b); multiplicative ops are products of powers.
_READOUT = {
    "add": ("linear", (1.0, 1.0)),
    "sub": ("linear", (1.0, -1.0)),
    "mul": ("power", (1.0, 1.0)),
    "div": ("power", (1.0, -1.0)),
    "square": ("power", (2.0, 0.0)),
    "sqrt": ("power", (0.5, 0.0)),
}


def apply_op(op, a, b):
    """Returns `op(a, b)` elementwise (`square`/`sqrt` ignore `b`)."""
    if op == "add":
        return a + b
    if op == "sub":
        return a - b
    if op == "mul":
        return a * b
    if op == "div":
        return a / b
    if op == "square":
        return a * a
    if op == "sqrt":
        return np.sqrt(a)
    raise ValueError(f"Unknown op {op!r}; valid ops are: {', '.join(OPS)}")


def check_subsets(input_dim, subset_ratio=0.25, overlap_ratio=0.5):
    """`(subset size, overlap)` of the problem; `ValueError` when it cannot be.

    Args:
        input_dim: Positive number of inputs.
        subset_ratio: Fraction of the inputs in each subset, in (0, 1].
        overlap_ratio: Fraction of a subset the two share, in [0, 1].
    """
    if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
        raise ValueError(
            f"the input size must be a positive integer; received {input_dim!r}"
        )
    if not 0 < subset_ratio <= 1:
        raise ValueError(
            f"the subset ratio must be in (0, 1]; received {subset_ratio!r}"
        )
    if not 0 <= overlap_ratio <= 1:
        raise ValueError(
            f"the overlap ratio must be in [0, 1]; received {overlap_ratio!r}"
        )
    size = max(1, round(subset_ratio * input_dim))
    overlap = round(overlap_ratio * size)
    if 2 * size - overlap > input_dim:
        raise ValueError(
            f"an input of {input_dim} is too small for two subsets of {size} "
            f"inputs sharing {overlap} (subset ratio {subset_ratio}, overlap "
            f"ratio {overlap_ratio})"
        )
    return size, overlap


def subsets(input_dim, subset_ratio=0.25, overlap_ratio=0.5, subset_seed=0):
    """Returns the index arrays `(A, B)` described in the module docstring."""
    size, overlap = check_subsets(input_dim, subset_ratio, overlap_ratio)
    perm = np.random.default_rng(subset_seed).permutation(input_dim)
    return np.sort(perm[:size]), np.sort(perm[size - overlap : 2 * size - overlap])


def stacked_targets(tasks, x):
    """The targets of several problems' inputs at once, stacked.

    `x[k]` holds inputs of `tasks[k]`; the result's `[k]` is
    `tasks[k].targets(x[k])` to the last bit (the same float64 sums, in the
    same order), computed for all of them in a few NumPy calls instead of
    a few per problem: `runner.vectorize` draws every seed's batch at every
    step.

    Args:
        tasks: `ArithmeticTask`s of one op, one input size and one subset
            size (their subsets may differ).
        x: float32 array of shape `(len(tasks), n, [time,] input_dim)`.

    Returns:
        float32 array of shape `(len(tasks), n, 1)`.
    """
    op = tasks[0].op
    if any(t.op != op or t.static != tasks[0].static for t in tasks):
        raise ValueError("stacked_targets takes problems of one op and one shape")
    if any(type(t).targets is not _TARGETS for t in tasks):
        # A subclass's (or a test's) own targets: one problem at a time.
        return np.stack([t.targets(xk) for t, xk in zip(tasks, x, strict=True)])
    x = np.asarray(x, dtype=np.float64)
    totals = x.sum(axis=tuple(range(2, x.ndim - 1))) if x.ndim > 3 else x
    sums = []
    for name in ("subset_a", "subset_b"):
        indices = np.stack([getattr(t, name) for t in tasks])[:, None, :]
        sums.append(np.take_along_axis(totals, indices, axis=2).sum(-1))
    return apply_op(op, *sums)[..., None].astype("float32")


def check_range(value_range):
    """`(low, high)` as floats; `ValueError` unless `low < high`, both finite."""
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"a range is two numbers LOW,HIGH; received {value_range!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"a range needs finite LOW < HIGH; received {low:g},{high:g}")
    return low, high


def uniform_over(ranges, shape, rng):
    """Values drawn uniformly over the union of `ranges` (float32).

    One range draws `rng.uniform(low, high)`; several pick each value's range
    with probability proportional to its width, then draw within it, so the
    values are uniform over the union (for ranges of one width, as the NALM
    benchmark's [-6, -2] and [2, 6], each range is as likely).
    """
    if len(ranges) == 1:
        return rng.uniform(*ranges[0], size=shape).astype("float32")
    lows = np.array([low for low, _ in ranges])
    widths = np.array([high - low for low, high in ranges])
    pick = rng.choice(len(ranges), size=shape, p=widths / widths.sum())
    return (lows[pick] + widths[pick] * rng.uniform(size=shape)).astype("float32")


@dataclasses.dataclass
class ArithmeticTask:
    """One arithmetic problem: an op, the subsets and the value ranges.

    Attributes:
        op: One of `OPS`.
        static: Whether there is no time axis. Defaults to `False`.
        input_dim: Size of each input vector; `None` means 10 (recurrent)
            or 100 (static).
        train_range: `(low, high)` of training/interpolation values; `None`
            means (0, 1) (recurrent) or (1, 2) (static).
        extrapolation_range: The values of the extrapolation sets: one
            `(low, high)`, or several whose union they are drawn from;
            `None` means (2, 6) (static) or the training range (recurrent,
            which extrapolates in length).
        subset_ratio, overlap_ratio, subset_seed: Define `A` and `B`.
    """

    op: str
    static: bool = False
    input_dim: int = None
    train_range: tuple = None
    extrapolation_range: tuple = None
    subset_ratio: float = 0.25
    overlap_ratio: float = 0.5
    subset_seed: int = 0

    def __post_init__(self):
        if self.op not in OPS:
            raise ValueError(f"Unknown op {self.op!r}; valid ops are: {', '.join(OPS)}")
        if self.input_dim is None:
            self.input_dim = 100 if self.static else 10
        if self.train_range is None:
            self.train_range = (1.0, 2.0) if self.static else (0.0, 1.0)
        self.train_range = check_range(self.train_range)
        ranges = self.extrapolation_range
        if ranges is None:
            ranges = (2.0, 6.0) if self.static else self.train_range
        if np.ndim(ranges) == 1:
            ranges = (ranges,)
        self.extrapolation_ranges = tuple(check_range(r) for r in ranges)
        self.extrapolation_range = (
            self.extrapolation_ranges[0]
            if len(self.extrapolation_ranges) == 1
            else self.extrapolation_ranges
        )
        self.subset_a, self.subset_b = subsets(
            self.input_dim, self.subset_ratio, self.overlap_ratio, self.subset_seed
        )

    @property
    def name(self):
        return self.op

    @property
    def value_ranges(self):
        """Every range values are drawn from: training, then extrapolation."""
        return (self.train_range, *self.extrapolation_ranges)

    @property
    def signed(self):
        """Whether some values drawn, and so `a` or `b`, can be negative."""
        return any(low < 0 for low, _ in self.value_ranges)

    def describe(self):
        """results.json's `problem`: the instance this run learns."""
        return {
            "op": self.op,
            "static": self.static,
            "input_size": self.input_dim,
            "subset_a": [int(i) for i in self.subset_a],
            "subset_b": [int(i) for i in self.subset_b],
            "subset_seed": self.subset_seed,
            "subset_ratio": self.subset_ratio,
            "overlap_ratio": self.overlap_ratio,
            "train_range": list(self.train_range),
            "extrapolation_range": [list(r) for r in self.extrapolation_ranges],
        }

    def sums(self, x):
        """`(a, b)` for inputs `x` of shape (n, [time,] input_dim)."""
        x = np.asarray(x, dtype=np.float64)
        axes = tuple(range(1, x.ndim - 1))
        totals = x.sum(axis=axes) if axes else x
        return totals[:, self.subset_a].sum(-1), totals[:, self.subset_b].sum(-1)

    def targets(self, x):
        """The exact targets `op(a, b)`, shape (n, 1), float32."""
        a, b = self.sums(x)
        return apply_op(self.op, a, b)[:, None].astype("float32")

    def sample(self, num, length, value_ranges, rng):
        """`(x, y)` with `num` examples; `length` is ignored when static.

        `value_ranges` is one `(low, high)` or a tuple of them (their union).
        """
        x = self.inputs(num, length, value_ranges, rng)
        return x, self.targets(x)

    def inputs(self, num, length, value_ranges, rng):
        """The inputs `sample` draws, without their targets."""
        shape = (num, self.input_dim) if self.static else (num, length, self.input_dim)
        if np.ndim(value_ranges) == 1:
            value_ranges = (value_ranges,)
        return uniform_over(value_ranges, shape, rng)

    def test_sets(self, lengths, num, seed):
        """Named test sets: `[(split, length, value_range, x, y), ...]`.

        Recurrent: one set per length, the interpolation set at
        `lengths[0]` from the training range, the longer ones from the
        extrapolation range (by default the training range: the recurrent
        task extrapolates in length). Static: an interpolation and an
        extrapolation set by value range. Test seeds are offset from training
        seeds so the two never share draws.
        """
        rng = np.random.default_rng([seed, 1])
        extrapolation = self.extrapolation_ranges
        if self.static:
            plans = [
                ("interpolation", 1, (self.train_range,)),
                ("extrapolation", 1, extrapolation),
            ]
        else:
            plans = [
                ("interpolation", length, (self.train_range,))
                if i == 0
                else ("extrapolation", length, extrapolation)
                for i, length in enumerate(lengths)
            ]
        return [
            (
                split,
                length,
                ranges[0] if len(ranges) == 1 else ranges,
                *self.sample(num, length, ranges, rng),
            )
            for split, length, ranges in plans
        ]

    def single_layer_perturbed_mse(self, x, epsilon=1e-5):
        """The NALM benchmark's threshold for one unit from the inputs.

        Mistry et al.'s (nalm-benchmark's `generate_exp_thresholds.r`): the
        MSE of the exact single-layer solution with every weight moved by
        `epsilon` towards error. For `add` and `sub` each output is off by
        `epsilon * sum(|x|)` over every input; for `mul` it is scaled by
        `(1 - epsilon)` per used input, for `div` by `(1 - epsilon)` per
        dividend input and `1 / (1 + epsilon)` per divisor input, and for
        both by `1 - epsilon * |x_i|` per unused input. Other ops have no
        single-layer threshold of theirs: `perturbed_solution_mse`.

        Args:
            x: Static inputs, shape (n, input_dim).
            epsilon: The perturbation. Defaults to `1e-5`, theirs.

        Returns:
            The MSE, a float (computed in float64).
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or self.op not in ("add", "sub", "mul", "div"):
            return self.perturbed_solution_mse(x, epsilon)
        a, b = self.sums(x)
        exact = apply_op(self.op, a, b)
        if self.op in ("add", "sub"):
            return float(np.mean((epsilon * np.abs(x).sum(-1)) ** 2))
        used = sorted(set(self.subset_a) | set(self.subset_b))
        unused = [i for i in range(self.input_dim) if i not in used]
        if self.op == "mul":
            scale = (1 - epsilon) ** len(used)
        else:
            scale = (1 - epsilon) ** len(self.subset_a) / (1 + epsilon) ** len(
                self.subset_b
            )
        scale = scale * np.prod(1 - epsilon * np.abs(x[:, unused]), axis=-1)
        return float(np.mean((exact * scale - exact) ** 2))

    def perturbed_solution_mse(self, x, epsilon=1e-5):
        """MSE of the exact solution with every weight moved by `epsilon`.

        Madsen & Johansen's success threshold. On the static task it is
        theirs exactly: each selection weight moves towards the other side
        of its decision (a 1 to `1 - epsilon`, a 0 to `epsilon`) and the op
        is applied exactly. Through a recurrence that direction cancels (the
        recurrence's columns still sum to 1, so `a + b` and `a * b` keep
        almost all of their value), so on sequences every weight moves the
        way that raises the error instead: each read-out coefficient away
        from 0, and every weight into a state unit, of the selection and of
        the recurrence (1 on the diagonal, 0 off it), towards the sign of
        that unit's read-out coefficient. (Moving every weight up cancels in
        `a - b`.) Computed in float64.
        """
        x = np.asarray(x, dtype=np.float64)
        selection = np.zeros((self.input_dim, 2))
        selection[self.subset_a, 0] = 1.0
        selection[self.subset_b, 1] = 1.0
        if x.ndim == 2:
            moved = np.where(selection == 1.0, 1.0 - epsilon, epsilon)
            a, b = (x @ moved).T
            exact = apply_op(self.op, *self.sums(x))
            return float(np.mean((apply_op(self.op, a, b) - exact) ** 2))
        kind, coefficients = _READOUT[self.op]
        # The way each state unit's weights move: with its coefficient.
        towards = np.where(np.array(coefficients) < 0, -epsilon, epsilon)
        selection = selection + towards
        recurrence = np.eye(2) + towards
        state = np.zeros((x.shape[0], 2))
        for t in range(x.shape[1]):
            state = state @ recurrence + x[:, t] @ selection
        a, b = state[:, 0], state[:, 1]
        exact_a, exact_b = coefficients
        ca = exact_a + epsilon * np.sign(exact_a) if exact_a else epsilon
        cb = exact_b + epsilon * np.sign(exact_b) if exact_b else epsilon
        if kind == "linear":
            prediction = ca * a + cb * b
        else:
            # The sign of a power with an integer exponent, which the
            # magnitudes below drop (a product of signed sums).
            sign = np.sign(a) ** round(abs(exact_a)) * np.sign(b) ** round(abs(exact_b))
            prediction = sign * np.abs(a) ** ca * np.abs(b) ** cb
        return float(np.mean((prediction - self.targets(x)[:, 0]) ** 2))


# `ArithmeticTask.targets` as defined here: `stacked_targets` computes it for
# many problems at once, and only it.
_TARGETS = ArithmeticTask.targets
