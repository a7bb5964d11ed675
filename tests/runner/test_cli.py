"""The `train.py` command line (`runner.cli`): the parser generated from
`RunConfig`'s fields, and the flags it refuses (exit status 2, one error
line, never a traceback). Whole runs through `main` are in test_train.py."""

import dataclasses
import random
import subprocess
import sys

import pytest

import runner.cli
import runner.config
from runner.cli import build_parser, main, parse_args
from runner.config import GROUPS, RunConfig, flag_fields
from tasks.registry import task_names
from tests.support.scripts import ROOT


def _error_line(capsys):
    """The one `train.py: error:` line of a usage error, with no traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("train.py: error:")]
    assert len(lines) == 1, err
    return lines[0]


def _help(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_args([*argv, "--help"])
    assert stop.value.code == 0
    return capsys.readouterr().out


# --------------------------------------------------------- the generated parser


def test_every_field_has_its_flag():
    parser = build_parser()
    actions = {action.dest: action for action in parser._actions}
    for _, field in flag_fields():
        flag = field.metadata["flag"]
        name = "--" + field.name.replace("_", "-")
        action = actions[field.name]
        assert name in action.option_strings, field.name
        if flag.kind == "toggle":
            assert "--no-" + name[2:] in action.option_strings, field.name
        # Every default is None, so that a flag left out takes the task's
        # and cell's recipes, then the field's default (`RunConfig.for_task`).
        assert action.default is None, field.name
    assert set(actions) - {"help"} == {field.name for _, field in flag_fields()}


def test_help_lists_the_flags_by_group(capsys):
    groups = {group.title: group for group in build_parser()._action_groups}
    for _, group_class, title in GROUPS:
        dests = {action.dest for action in groups[title]._group_actions}
        assert dests == {f.name for f in dataclasses.fields(group_class)}, title
    text = _help([], capsys)
    titles = [title for _, _, title in GROUPS]
    assert titles == [
        "run",
        "data",
        "model",
        "optimiser",
        "regularisation",
        "evaluation",
        "infrastructure",
    ]
    positions = [text.index(f"\n{title}:\n") for title in titles]
    assert positions == sorted(positions)
    # A group's description comes with its title.
    assert "What runs, and where its outputs go." in text


def test_help_of_a_task_shows_its_defaults(capsys):
    text = " ".join(_help(["--task", "mul"], capsys).split())
    # mul's default cell is the NALU, whose recipe trains 3 * 10^4 steps.
    assert "--steps STEPS training steps (default for --task mul: 30000)" in text
    assert "(default for --task mul: nalu)" in text
    text = " ".join(_help(["--task", "mul", "--cell", "nac"], capsys).split())
    assert "training steps (default for --task mul --cell nac: 10000)" in text
    text = " ".join(_help(["--task", "mul", "--static"], capsys).split())
    assert "(default for --task mul --static: snmu)" in text
    # Without a task: the field's default, then what each recipe sets.
    text = " ".join(_help([], capsys).split())
    assert "training steps (default: 10000; arithmetic: 10000," in text
    assert "mnist_product: 5000)" in text


def test_help_names_the_default_cell(capsys):
    help_text = " ".join(_help(["--task", "mnist_product"], capsys).split())
    assert "(default for --task mnist_product: nmu)" in help_text


@pytest.mark.parametrize(
    "argv",
    [[]]
    + [["--task", name] for name in task_names()]
    + [["--task", "mul", "--static"], ["--task", "mnist_add", "--cell", "lstm"]],
)
def test_no_help_line_says_default_none(argv, capsys):
    text = _help(argv, capsys)
    assert "None)" not in text and "(default: None" not in text


def test_train_py_help_shows_the_tasks_defaults():
    done = subprocess.run(
        [sys.executable, "train.py", "--task", "mul", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = " ".join(done.stdout.split())
    assert "training steps (default for --task mul: 30000)" in text
    assert "infrastructure:" in done.stdout


def test_name_list_is_the_scripts_comma_separated_list():
    assert runner.cli.name_list is runner.config.name_list
    assert runner.cli.name_list(" add, mul,,sqrt ") == ("add", "mul", "sqrt")


# ------------------------------------------------------------- refused flags


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "pow"], "invalid choice: 'pow'"),
        (["--task", "add", "--cell", "transformer"], "invalid choice: 'transformer'"),
        (["--task", "add", "--steps", "0"], "expected a positive integer"),
        (["--task", "add", "--batch-size", "-4"], "expected a positive integer"),
        (["--task", "add", "--eval-lengths", "10,0"], "comma-separated positive"),
        (["--task", "add", "--learning-rate", "nan"], "expected a positive number"),
        (["--task", "add", "--harden-tolerance", "0.9"], "in [0, 0.5]"),
        (["--task", "add", "--optimizer", "sgd"], "invalid choice: 'sgd'"),
        (["--task", "add", "--evaluate", "/no/such/model.keras"], "no such file"),
        (["--task", "mnist_add", "--static"], "arithmetic tasks only"),
        (["--task", "add", "--encoder", "linear"], "MNIST tasks only"),
        (["--task", "add", "--supervision", "final"], "MNIST tasks only"),
        (["--task", "mnist_add", "--encoder", "pixels"], "invalid choice: 'pixels'"),
        (["--task", "add", "--clipvalue", "0"], "expected a positive number"),
        (["--task", "add", "--saturation", "-1"], "a number >= 0"),
        (
            ["--task", "mnist_count", "--readout-sparsity-start", "0.5"],
            "arithmetic tasks only",
        ),
        (["--task", "add", "--readout-sparsity-start", "1.5"], "in [0, 1]"),
    ],
)
def test_bad_flags_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "mnist_add", "--cell", "lstm", "--solved-head"], "arithmetic cell"),
        (["--task", "mnist_add", "--units", "4", "--solved-head"], "no --units"),
        (["--task", "add", "--solved-head"], "MNIST tasks only"),
        (["--task", "mnist_add", "--cell", "nac", "--scale-targets"], "read-out"),
        (["--task", "add", "--cell", "lstm", "--scale-targets"], "MNIST tasks only"),
    ],
)
def test_mnist_flags_refuse_what_they_cannot_do(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_solved_head_refuses_a_head_that_only_sums(capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--task", "mnist_product", "--cell", "nac", "--solved-head"])
    err = capsys.readouterr().err
    assert info.value.code == 2 and "multiplies over time" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        # A flag of the other family, MNIST's data folders included.
        (["--task", "add", "--data-dir", "/mnist"], "--data-dir applies to the MNIST"),
        (["--task", "add", "--tfds-dir", "/tfds"], "--tfds-dir applies to the MNIST"),
        (["--task", "sub", "--no-curriculum"], "--curriculum applies to the MNIST"),
        (
            ["--task", "mnist_add", "--readout-sparsity-start", "0"],
            "--readout-sparsity-start applies to the arithmetic tasks only",
        ),
        # A flag that needs arithmetic units, with a baseline cell.
        (["--task", "add", "--cell", "lstm", "--sparsity", "0"], "--sparsity acts"),
        (
            ["--task", "add", "--cell", "gru", "--sparsity-start", "0.5"],
            "--sparsity-start acts on arithmetic units; cell 'gru' has none",
        ),
        (["--task", "mul", "--cell", "rnn_tanh", "--sparsity-end", "0.5"], "acts on"),
        (["--task", "add", "--cell", "lstm", "--sparsity-stop", "0.5"], "acts on"),
        (
            ["--task", "div", "--cell", "rnn_relu", "--readout-sparsity-start", "0.6"],
            "--readout-sparsity-start acts on arithmetic units",
        ),
        (["--task", "add", "--cell", "lstm", "--saturation", "0.05"], "--saturation"),
        (["--task", "add", "--cell", "gru", "--harden"], "--harden acts on"),
        (["--task", "add", "--cell", "gru", "--no-harden"], "--harden acts on"),
        (
            ["--task", "mnist_add", "--cell", "lstm", "--harden-tolerance", "0.1"],
            "--harden-tolerance acts on arithmetic units; cell 'lstm' has none",
        ),
        # --gate-snap with a cell without learnt gates.
        (
            ["--task", "add", "--cell", "nac", "--gate-snap", "0.5"],
            "--gate-snap acts on units with learnt gates (nalu, inalu); cell 'nac'",
        ),
        (["--task", "mnist_add", "--cell", "lstm", "--gate-snap", "0.5"], "gates"),
        # --sparsity-stop without --sparsity-end.
        (
            ["--task", "add", "--cell", "nac", "--sparsity-stop", "0.8"],
            "--sparsity-stop needs --sparsity-end",
        ),
    ],
)
def test_options_that_do_not_go_together_exit_2_with_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert message in _error_line(capsys)


def test_main_refuses_them_before_anything_loads(monkeypatch, capsys):
    started = []
    monkeypatch.setattr(runner.cli, "quiet_start", started.append)
    with pytest.raises(SystemExit) as info:
        main(["--task", "add", "--cell", "lstm", "--no-harden", "--quiet"])
    assert info.value.code == 2
    assert "--harden acts on arithmetic units" in _error_line(capsys)
    # The quiet start (and Keras with it) comes only after the flags parse.
    assert started == []


def test_what_the_flags_allow_parses():
    config = parse_args(["--task", "add", "--cell", "nalu", "--gate-snap", "0.5"])
    assert config.regularization.gate_snap == 0.5
    ramp = ["--sparsity-end", "0.5", "--sparsity-stop", "0.8"]
    config = parse_args(["--task", "add", *ramp])
    assert config.regularization.sparsity_stop == 0.8
    config = parse_args(["--task", "mnist_add", "--no-lr-decay", "--no-curriculum"])
    assert config.optim.lr_decay is False and config.data.curriculum is False
    assert parse_args(["--task", "add", "--cell", "lstm"]) == RunConfig.for_task(
        "add", cell="lstm"
    )


def test_train_cli_offers_the_new_cells():
    for name in ("nau", "nmu", "inalu", "realnpu", "npu"):
        options = parse_args(["--task", "mul", "--cell", name, "--static"])
        assert options.run.cell == name and options.model.units == 2


def test_tensorboard_flag_help_and_default():
    assert parse_args(["--task", "add"]).infra.tensorboard is None
    assert parse_args(["--task", "add", "--tensorboard"]).infra.tensorboard == ""
    assert parse_args(["--task", "add", "--tensorboard", "d"]).infra.tensorboard == "d"
    assert "OUT/tensorboard" in build_parser().format_help()


# Random flag combinations: the parser answers with a configuration or one
# error line and exit 2, never a traceback.
FLAG_VALUES = {
    "--task": ["add", "mul", "mnist_count", "nope", ""],
    "--cell": ["nac", "nalu", "lstm", "selector", "x"],
    "--seed": ["0", "7", "-1", "a"],
    "--seeds": ["1", "3", "0", "1.5"],
    "--steps": ["1", "100", "0", "-5", "1e3"],
    "--batch-size": ["8", "0", "x"],
    "--learning-rate": ["0.1", "0", "-1", "inf", "nan"],
    "--eval-lengths": ["10", "1,10,100", "", "0", "10,-1", "a,b"],
    "--eval-sequences": ["16", "0"],
    "--sparsity": ["0", "0.5", "-0.1"],
    "--sparsity-start": ["0.5", "1.5"],
    "--harden-tolerance": ["0.2", "0.6"],
    "--optimizer": ["adam", "common_mode_adam", "sgd"],
    "--supervision": ["final", "every_step", "all"],
    "--encoder": ["classes", "linear", "none"],
    "--clipvalue": ["0.1", "0"],
    "--saturation": ["0.05", "-1"],
    "--strategy": ["none", "mirrored", "bogus"],
    "--train-length": ["10", "0"],
    "--evaluate": ["/nonexistent/model.keras"],
}
SWITCHES = ["--static", "--quiet", "--force", "--no-harden", "--lr-decay"]


def test_random_flag_combinations_parse_or_exit_2(capsys):
    rng = random.Random(0)
    for _ in range(300):
        argv = []
        for flag in rng.sample(sorted(FLAG_VALUES), rng.randint(0, 6)):
            argv += [flag, rng.choice(FLAG_VALUES[flag])]
        argv += rng.sample(SWITCHES, rng.randint(0, 2))
        try:
            config = parse_args(argv)
        except SystemExit as stop:
            assert stop.code == 2, argv
            err = capsys.readouterr().err
            assert "Traceback" not in err and "train.py: error:" in err, argv
        else:
            assert config.run.task in ("add", "mul", "mnist_count"), argv


def test_main_starts_quietly_once_the_flags_parse(monkeypatch, tmp_path):
    import runner.run

    calls = []
    monkeypatch.setattr(runner.cli, "quiet_start", lambda argv: calls.append(argv))

    def run(config, experiment):
        calls.append((config.run.task, experiment))

    monkeypatch.setattr(runner.run, "run", run)
    argv = ["--task", "add", "--quiet", "--out", str(tmp_path)]
    assert main(argv) == 0
    # No experiment given: the task family's own (`make_experiment`).
    assert calls == [argv, ("add", None)]

    # A probe's experiment reaches the run in place of the registered one.
    class Probe:
        pass

    calls.clear()
    assert main(argv, experiment=Probe) == 0
    assert calls == [argv, ("add", Probe)]


def test_parsing_imports_no_backend():
    # `train.py --help` and a usage error answer without loading Keras.
    code = (
        "import sys; from runner.cli import build_parser, parse_args; "
        "build_parser(); parse_args(['--task', 'mul']); "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
        "if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"


def test_the_data_flags_parse_into_the_problem():
    config = parse_args(
        ["--task", "div", "--static", "--input-size", "10", "--subset-ratio",
         "0.1", "--overlap-ratio", "0", "--train-range=-2,-1",
         "--extrapolation-range=-6,-2", "--extrapolation-range", "2,6",
         "--subset-seed", "7"]
    )  # fmt: skip
    data = config.data
    assert (data.input_size, data.subset_ratio, data.overlap_ratio) == (10, 0.1, 0.0)
    assert data.train_range == (-2.0, -1.0) and data.subset_seed == 7
    assert data.extrapolation_range == ((-6.0, -2.0), (2.0, 6.0))


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--task", "add", "--train-range", "2,1"], "LOW < HIGH"),
        (["--task", "add", "--train-range", "1"], "LOW,HIGH"),
        (["--task", "add", "--extrapolation-range", "3,3"], "LOW < HIGH"),
        (["--task", "add", "--subset-ratio", "0"], "(0, 1]"),
        (["--task", "add", "--subset-ratio", "1.5"], "(0, 1]"),
        (["--task", "add", "--overlap-ratio", "2"], "[0, 1]"),
        (["--task", "add", "--input-size", "3", "--subset-ratio", "0.9"], "too small"),
        (["--task", "mnist_add", "--train-range", "0,1"], "arithmetic tasks only"),
        (["--task", "mnist_add", "--select", "last"], "arithmetic tasks only"),
        # A single layer is static; a square root of negative values not real.
        (["--task", "mul", "--single-layer"], "needs --static"),
        (["--task", "mnist_add", "--single-layer"], "arithmetic tasks only"),
        (["--task", "sqrt", "--train-range=-1,1"], "from -1: the square root"),
        (
            ["--task", "sqrt", "--static", "--extrapolation-range=-6,-2"],
            "negative sum is not real",
        ),
    ],
)
def test_impossible_data_flags_exit_2_with_one_line(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(argv)
    assert info.value.code == 2
    assert words in _error_line(capsys)


def test_single_layer_takes_the_benchmark_protocol_and_flags_win():
    config = parse_args(["--task", "div", "--static", "--single-layer"])
    assert config.model.single_layer and config.run.cell == "nmru"
    assert (config.data.input_size, config.data.subset_ratio) == (2, 0.5)
    assert config.optim.steps == 50000 and config.optim.learning_rate == 1e-2
    assert config.evaluation.select == "best-interpolation"
    config = parse_args(
        ["--task", "div", "--static", "--single-layer", "--cell", "nmru",
         "--input-size", "10", "--subset-ratio", "0.1", "--steps", "10"]
    )  # fmt: skip
    assert (config.data.input_size, config.optim.steps) == (10, 10)
    assert config.optim.global_clipnorm == 1.0 and config.optim.clipnorm is None
    # The sign of a product of negative values is the task's, not refused.
    config = parse_args(["--task", "sqrt", "--static", "--train-range=0.1,0.2"])
    assert config.data.train_range == (0.1, 0.2)
