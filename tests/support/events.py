"""Reading back the scalars of TensorBoard event files."""

from pathlib import Path


def scalars(folder):
    """{tag: {step: value}} of every event file in `folder`."""
    import tensorflow as tf

    found = {}
    files = sorted(Path(folder).glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                number = float(tf.make_ndarray(value.tensor))
                found.setdefault(value.tag, {})[event.step] = number
    return found
