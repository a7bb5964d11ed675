"""How a `train.py` run executes and is recorded.

* `runner.config`: `RunConfig`, the frozen options of a run, and the
  recipes (per task family, cell, `--static`) its defaults come from.
* `runner.cli`: the flags, their validation into a `RunConfig`, `main`.
* `runner.run`: seeding, `fit` with checkpoints and resume, one seed
  (`run`) or several (`run_seeds`).
* `runner.training`: the compile and harden-with-rollback steps the
  experiments of `tasks` share.
* `runner.results`: `results.json` / `summary.json`, tables and plots.
* `runner.success`: Madsen & Johansen's success measures.
* `runner.distribution`: `--strategy` (`tf.distribute`).
* `runner.observability`: `--tensorboard` logs and `--export`.
* `runner.sweeps`: runs `train.py` many times for the experiments/ scripts,
  on a Dask cluster (embedded, or `--scheduler`).

What is learnt (data, models, evaluation) is the task's: see `tasks.base`.
"""
