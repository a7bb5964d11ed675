"""Moved: the run is `runner.run`, the arithmetic experiment
`tasks.arithmetic_experiment`; kept until tests/test_formulas.py (library
side) builds a `runner.config.RunConfig` instead of an `argparse.Namespace`.
"""

import argparse

from runner import run as _run
from runner.config import RunConfig


def run(config, out_dir=None):
    """`runner.run.run`; also takes the `argparse.Namespace` of old callers."""
    if isinstance(config, argparse.Namespace):
        config = RunConfig(**vars(config))
    return _run.run(config, out_dir)
