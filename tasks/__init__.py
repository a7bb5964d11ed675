"""What the experiments learn: seeded data, and each task's `Experiment`.

* `tasks.base`: the `Experiment` hooks the runner calls, and the task
  registry (`register_task`, `get_task`, `TASKS`).
* `tasks.arithmetic`: the arithmetic data (recurrent and static);
  `tasks.arithmetic_experiment` trains it (`add`, `sub`, `mul`, `div`,
  `square`, `sqrt`).
* `tasks.mnist`: MNIST loading and digit sequences;
  `tasks.mnist_experiment` trains them (`mnist_count`, `mnist_add`).

How a run executes and is recorded is the `runner` package's.
"""
