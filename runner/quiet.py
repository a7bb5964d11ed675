"""A quiet start: TensorFlow's start-up notices hidden before training.

Importing TensorFlow prints, from its C++ side and before Python logging
exists, lines such as

    WARNING: All log messages before absl::InitializeLog() is called are ...
    I0000 00:00:... port.cc:153] oneDNN custom operations are on. ...

twice (two native libraries each log them), and `TF_CPP_MIN_LOG_LEVEL`
hides only some of them (the oneDNN notice ignores it). `quiet_start`,
called by `train.py` and `python -m runner` before anything imports Keras or
TensorFlow, sets `TF_CPP_MIN_LOG_LEVEL=2` and imports TensorFlow with the
process's stderr (file descriptor 2) captured, then writes back every
captured line except those notices, so a real error at import still shows.

Nothing is hidden when the user asks for the notices: `--verbose`, or
`TF_CPP_MIN_LOG_LEVEL` already set in the environment. This module imports
nothing heavy itself.
"""

import contextlib
import importlib.util
import os
import re
import sys
import tempfile

LOG_LEVEL_VAR = "TF_CPP_MIN_LOG_LEVEL"
# Only TensorFlow's INFO and WARNING messages are dropped: errors still print.
QUIET_LOG_LEVEL = "2"
NOTICES = (
    re.compile(r"All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^[IW]\d{4} .*\] oneDNN custom operations are on"),
    re.compile(r"^[IW]\d{4} .*cpu_feature_guard\.cc"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow"),
)


def wants_notices(argv):
    """Whether the user asked to see the notices: `--verbose` or the env var.

    Args:
        argv: The command-line arguments (without the program name). A
            prefix of `--verbose` counts, as argparse accepts it.
    """
    asked = any(arg.startswith("--v") and "--verbose".startswith(arg) for arg in argv)
    return asked or LOG_LEVEL_VAR in os.environ


@contextlib.contextmanager
def filtered_stderr(patterns=NOTICES):
    """Captures file descriptor 2 and writes back the lines no pattern matches.

    C++ libraries write to the descriptor directly, past `sys.stderr`, so the
    descriptor itself is redirected to a temporary file for the duration.

    Args:
        patterns: Compiled regular expressions; a captured line that any of
            them matches (`search`) is dropped. Defaults to `NOTICES`.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            for line in text.splitlines(keepends=True):
                if not any(pattern.search(line) for pattern in patterns):
                    sys.stderr.write(line)
            sys.stderr.flush()


def quiet_start(argv=None):
    """Hides TensorFlow's start-up notices unless the user wants them.

    Call it before anything imports Keras or TensorFlow. Unless
    `wants_notices(argv)`, it sets `TF_CPP_MIN_LOG_LEVEL=2` and, when
    TensorFlow is installed, imports it inside `filtered_stderr`.

    Args:
        argv: The command-line arguments; `None` (default) for
            `sys.argv[1:]`.
    """
    argv = sys.argv[1:] if argv is None else argv
    if wants_notices(argv):
        return
    os.environ[LOG_LEVEL_VAR] = QUIET_LOG_LEVEL
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    with filtered_stderr():
        import tensorflow  # noqa: F401
