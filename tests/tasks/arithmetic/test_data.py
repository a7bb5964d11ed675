"""The arithmetic problems and their sets (`tasks.arithmetic.data`)."""

import numpy as np
import pytest

from tasks.arithmetic import data as arithmetic
from tasks.arithmetic.data import ArithmeticTask
from tests.support.arrays import assert_array_equal


def _direct_target(op, x, subset_a, subset_b):
    a = b = 0.0
    for step in x.reshape(-1, x.shape[-1]):
        a += sum(float(step[i]) for i in subset_a)
        b += sum(float(step[i]) for i in subset_b)
    return {
        "add": a + b,
        "sub": a - b,
        "mul": a * b,
        "div": a / b,
        "square": a * a,
        "sqrt": a**0.5,
    }[op]


@pytest.mark.parametrize(
    "input_dim, size, overlap", [(10, 2, 1), (100, 25, 12), (4, 1, 0)]
)
def test_subsets_sizes_and_overlap(input_dim, size, overlap):
    a, b = arithmetic.subsets(input_dim)
    assert len(a) == len(b) == size
    assert len(np.intersect1d(a, b)) == overlap
    assert a.max() < input_dim and b.max() < input_dim
    assert_array_equal(a, arithmetic.subsets(input_dim)[0])


def test_subsets_do_not_depend_on_training_seed():
    first = ArithmeticTask("add")
    second = ArithmeticTask("add")
    assert_array_equal(first.subset_a, second.subset_a)
    other = ArithmeticTask("add", subset_seed=1)
    assert not (
        np.array_equal(first.subset_a, other.subset_a)
        and np.array_equal(first.subset_b, other.subset_b)
    )


@pytest.mark.parametrize("op", arithmetic.OPS)
@pytest.mark.parametrize("static", [False, True])
def test_targets_equal_direct_computation(op, static):
    task = ArithmeticTask(op, static=static)
    x, y = task.sample(5, 7, task.train_range, np.random.default_rng(0))
    assert y.shape == (5, 1) and y.dtype == np.float32
    for i in range(5):
        expected = _direct_target(op, x[i], task.subset_a, task.subset_b)
        assert y[i, 0] == pytest.approx(expected, rel=1e-5)


def test_defaults_shapes_and_ranges():
    recurrent = ArithmeticTask("add")
    assert recurrent.input_dim == 10 and recurrent.train_range == (0.0, 1.0)
    x, _ = recurrent.sample(8, 10, recurrent.train_range, np.random.default_rng(1))
    assert x.shape == (8, 10, 10) and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    static = ArithmeticTask("mul", static=True)
    assert static.input_dim == 100 and static.train_range == (1.0, 2.0)
    sets = static.test_sets([10], 50, seed=0)
    assert [s[0] for s in sets] == ["interpolation", "extrapolation"]
    extrapolation_x = sets[1][3]
    assert extrapolation_x.shape == (50, 100)
    assert extrapolation_x.min() >= 2.0 and extrapolation_x.max() <= 6.0


def test_test_sets_lengths_and_determinism():
    task = ArithmeticTask("sub")
    sets = task.test_sets([10, 100, 1000], 20, seed=3)
    assert [(s[0], s[1], s[3].shape) for s in sets] == [
        ("interpolation", 10, (20, 10, 10)),
        ("extrapolation", 100, (20, 100, 10)),
        ("extrapolation", 1000, (20, 1000, 10)),
    ]
    again = task.test_sets([10, 100, 1000], 20, seed=3)
    for first, second in zip(sets, again, strict=True):
        assert_array_equal(first[3], second[3])
    other = task.test_sets([10], 20, seed=4)
    assert not np.array_equal(sets[0][3], other[0][3])


def test_perturbed_solution_threshold():
    task = ArithmeticTask("add")
    x_short = task.test_sets([10], 50, seed=0)[0][3]
    x_long = task.test_sets([1000], 50, seed=0)[0][3]
    assert task.perturbed_solution_mse(x_short, epsilon=0.0) == pytest.approx(
        0.0,
        abs=1e-10,  # float32 rounding of the targets
    )
    short = task.perturbed_solution_mse(x_short)
    assert 0 < short < task.perturbed_solution_mse(x_long)
    for op in arithmetic.OPS:
        value = ArithmeticTask(op).perturbed_solution_mse(x_short)
        assert np.isfinite(value) and value > 0


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_the_static_threshold_is_madsen_and_johansen_s(op):
    # Their perturbed solution: W = eps everywhere, 1 - eps on the subsets,
    # the op applied exactly (their export/function_task_static_mse_expectation.r).
    task = ArithmeticTask(op, static=True, input_dim=8)
    x = np.random.default_rng(0).uniform(2, 6, size=(500, 8))
    eps = 1e-3
    w = np.full((8, 2), eps)
    w[task.subset_a, 0] = 1 - eps
    w[task.subset_b, 1] = 1 - eps
    a, b = (x @ w).T
    ops = {
        "add": np.add,
        "sub": np.subtract,
        "mul": np.multiply,
        "div": np.divide,
    }
    a0, b0 = task.sums(x)
    expected = np.mean((ops[op](a, b) - ops[op](a0, b0)) ** 2)
    assert task.perturbed_solution_mse(x, epsilon=eps) == pytest.approx(expected)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_the_recurrent_threshold_moves_each_weight_against_the_answer(op):
    # Each unit's selection and recurrence weights move towards its read-out
    # coefficient's sign (sub and div: b's down), the coefficients away
    # from 0; a NumPy loop over the time steps.
    task = ArithmeticTask(op, input_dim=6, subset_seed=3)
    x = np.random.default_rng(1).uniform(0, 1, size=(300, 20, 6))
    eps = 1e-3
    down = -1 if op in ("sub", "div") else 1
    w = np.zeros((6, 2))
    w[task.subset_a, 0] = 1
    w[task.subset_b, 1] = 1
    w += [eps, down * eps]
    r = np.eye(2) + [eps, down * eps]
    h = np.zeros((300, 2))
    for t in range(20):
        h = h @ r + x[:, t] @ w
    a, b = h.T
    c = 1 + eps
    prediction = {
        "add": c * a + c * b,
        "sub": c * a - c * b,
        "mul": a**c * b**c,
        "div": a**c * b**-c,
    }[op]
    a0, b0 = task.sums(x)
    exact = {"add": a0 + b0, "sub": a0 - b0, "mul": a0 * b0, "div": a0 / b0}[op]
    expected = np.mean((prediction - exact) ** 2)
    # The targets are float32; their rounding is far below the perturbation.
    assert task.perturbed_solution_mse(x, epsilon=eps) == pytest.approx(
        expected, rel=1e-3
    )


def test_no_op_s_threshold_cancels_to_nothing():
    # Moving every weight the same way cancelled in a - b: sub's threshold
    # fell to about eps**2 times the variance.
    for op in arithmetic.OPS:
        task = ArithmeticTask(op)
        x, y = task.sample(200, 100, task.train_range, np.random.default_rng(1))
        ratio = task.perturbed_solution_mse(x) / float(np.var(y.astype("float64")))
        assert 1e-9 < ratio < 1e-2, op


def test_unknown_op_lists_valid_ones():
    with pytest.raises(ValueError, match="valid ops are: add, sub, mul"):
        ArithmeticTask("pow")


def test_mse_reports_overflow_as_inf():
    assert arithmetic.mse([[1.0]], [[3.0]]) == 4.0
    assert arithmetic.mse([[1.0]], [[np.inf]]) == float("inf")
    assert arithmetic.mse([[1.0]], [[np.nan]]) == float("inf")


def test_values_are_uniform_over_a_union_of_ranges():
    task = ArithmeticTask(
        "mul", static=True, input_dim=2, subset_ratio=0.5, overlap_ratio=0.0
    )
    rng = np.random.default_rng(0)
    x, _ = task.sample(20000, 1, ((-6.0, -2.0), (2.0, 6.0)), rng)
    assert ((x >= -6) & (x <= -2) | (x >= 2) & (x <= 6)).all()
    # Equal widths: each range half of the values.
    assert abs(float(np.mean(x < 0)) - 0.5) < 0.02
    # Unequal widths: by width (uniform over the union).
    x, _ = task.sample(20000, 1, ((0.0, 1.0), (10.0, 13.0)), rng)
    assert abs(float(np.mean(x < 5)) - 0.25) < 0.02


def test_extrapolation_ranges_and_the_recorded_problem():
    task = ArithmeticTask(
        "div",
        static=True,
        input_dim=10,
        subset_ratio=0.1,
        overlap_ratio=0.0,
        train_range=(-2.0, 2.0),
        extrapolation_range=((-6.0, -2.0), (2.0, 6.0)),
        subset_seed=3,
    )
    sets = task.test_sets([10], 50, seed=0)
    assert [s[0] for s in sets] == ["interpolation", "extrapolation"]
    assert sets[1][2] == ((-6.0, -2.0), (2.0, 6.0))
    problem = task.describe()
    assert problem["input_size"] == 10 and len(problem["subset_a"]) == 1
    assert problem["extrapolation_range"] == [[-6.0, -2.0], [2.0, 6.0]]
    assert problem["train_range"] == [-2.0, 2.0] and problem["subset_seed"] == 3
    # The recurrent task extrapolates in length, from the training range.
    recurrent = ArithmeticTask("add")
    assert recurrent.extrapolation_ranges == ((0.0, 1.0),)
    assert [s[2] for s in recurrent.test_sets([10, 100], 5, 0)] == [(0.0, 1.0)] * 2


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"train_range": (2.0, 1.0)}, "LOW < HIGH"),
        ({"train_range": (1.0,)}, "two numbers"),
        ({"extrapolation_range": ((0.0, 1.0), (3.0, 3.0))}, "LOW < HIGH"),
        ({"subset_ratio": 0.0}, "subset ratio"),
        ({"subset_ratio": 1.5}, "subset ratio"),
        ({"overlap_ratio": -0.1}, "overlap ratio"),
        ({"input_dim": 3, "subset_ratio": 0.9}, "too small"),
    ],
)
def test_impossible_problems_say_why(kwargs, words):
    with pytest.raises(ValueError, match=words):
        ArithmeticTask("add", **kwargs)


@pytest.mark.parametrize("op", ["mul", "div", "square", "add", "sub"])
def test_the_threshold_keeps_the_sign_of_signed_inputs(op):
    # The exact solution is below the threshold and the threshold small
    # beside the targets: a sign dropped would put the perturbed solution
    # at twice the target where a * b < 0.
    task = ArithmeticTask(
        op,
        static=True,
        input_dim=2,
        subset_ratio=0.5,
        overlap_ratio=0.0,
        extrapolation_range=((-6.0, -2.0), (2.0, 6.0)),
    )
    ((_, _, _, x, y),) = task.test_sets([1], 2000, seed=0)[1:]
    threshold = task.perturbed_solution_mse(x)
    assert 0 < threshold < 1e-4 * float(np.mean(y.astype("float64") ** 2))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_single_layer_threshold_is_the_nalm_benchmarks(op):
    # nalm-benchmark's generate_exp_thresholds.r, for inputs x with the
    # first two used: a, b = x[:, 0], x[:, 1].
    task = ArithmeticTask(
        op, static=True, input_dim=4, subset_ratio=0.25, overlap_ratio=0.0,
        train_range=(1.0, 2.0), subset_seed=0,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    x = rng.uniform(-6.0, 6.0, (1000, 4))
    a = x[:, task.subset_a[0]]
    b = x[:, task.subset_b[0]]
    eps = 1e-5
    unused = np.prod(
        [
            1 - eps * np.abs(x[:, i])
            for i in range(4)
            if i not in (*task.subset_a, *task.subset_b)
        ],
        axis=0,
    )
    exact, perturbed = {
        "add": (a + b, a + b - eps * np.abs(x).sum(-1)),
        "sub": (a - b, a - b - eps * np.abs(x).sum(-1)),
        "mul": (a * b, (1 - eps) ** 2 * a * b * unused),
        "div": (a / b, (1 - eps) / (1 + eps) * a / b * unused),
    }[op]
    expected = np.mean((perturbed - exact) ** 2)
    assert task.single_layer_perturbed_mse(x) == pytest.approx(expected, rel=1e-9)
    assert task.single_layer_perturbed_mse(x, epsilon=0.0) == 0.0


@pytest.mark.parametrize("op", arithmetic.OPS)
@pytest.mark.parametrize("static", [True, False])
def test_stacked_targets_are_each_problems_targets_to_the_last_bit(op, static):
    # Each problem its own subsets (the seeds' default), one shape.
    tasks = [ArithmeticTask(op, static=static, subset_seed=seed) for seed in range(5)]
    assert len({tuple(t.subset_a) for t in tasks}) > 1
    rng = np.random.default_rng(3)
    shape = (len(tasks), 32, tasks[0].input_dim) if static else (len(tasks), 32, 7, 10)
    x = rng.uniform(0.0, 2.0, size=shape).astype("float32")
    stacked = arithmetic.stacked_targets(tasks, x)
    assert stacked.shape == (len(tasks), 32, 1) and stacked.dtype == np.float32
    assert_array_equal(
        stacked, np.stack([t.targets(xk) for t, xk in zip(tasks, x, strict=True)])
    )


def test_stacked_targets_take_one_op_and_one_shape():
    x = np.ones((2, 4, 10), "float32")
    with pytest.raises(ValueError, match="one op"):
        arithmetic.stacked_targets([ArithmeticTask("add"), ArithmeticTask("mul")], x)
    with pytest.raises(ValueError, match="one op"):
        pair = [ArithmeticTask("add"), ArithmeticTask("add", static=True)]
        arithmetic.stacked_targets(pair, x)


def test_stacked_targets_keep_a_subclasss_own_targets():
    class Doubled(ArithmeticTask):
        def targets(self, x):
            return 2 * super().targets(x)

    tasks = [Doubled("add", subset_seed=0), Doubled("add", subset_seed=1)]
    x = np.random.default_rng(0).uniform(size=(2, 4, 3, 10)).astype("float32")
    expected = np.stack([t.targets(xk) for t, xk in zip(tasks, x, strict=True)])
    assert_array_equal(arithmetic.stacked_targets(tasks, x), expected)
