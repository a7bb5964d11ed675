"""What a saved model was trained for, stored inside its `.keras` file.

`train.py` adds one entry, `nalu_rnn_task.json`, to the `.keras` archive it
saves: the task, `--static`, `--single-layer`, the cell, the training length
and the model's signature (`tasks.base.ModelSignature`). Keras loads the
archive as before (it reads its own entries only); `train.py --evaluate
PATH` reads this one to evaluate on the task the model learnt when `--task`
is not given.
"""

import json
import zipfile

ENTRY = "nalu_rnn_task.json"


def write_record(path, config, signature):
    """Adds the task record of `config` to the `.keras` archive at `path`."""
    record = {
        "task": config.run.task,
        "static": config.data.static,
        "single_layer": config.model.single_layer,
        "cell": config.run.cell,
        "train_length": config.data.train_length,
        **(signature.to_json() if signature is not None else {}),
    }
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(ENTRY, json.dumps(record, indent=2))


def read_record(path):
    """The task record of the `.keras` archive at `path`, or `None`.

    `None` for a model saved before records were written, and for a file
    that is not an archive (loading it then says what is wrong).
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if ENTRY not in archive.namelist():
                return None
            return json.loads(archive.read(ENTRY))
    except (OSError, zipfile.BadZipFile, ValueError):
        return None
