import keras

import nalu_rnn
from nalu_rnn.keras_internals import flatten_layers, patch_multi_worker_fit


def test_flatten_layers_reaches_the_unit_inside_a_cell_inside_a_model():
    rnn = keras.layers.RNN(nalu_rnn.NAUCell(2), name="rnn")
    model = keras.Sequential([keras.Input((None, 3)), rnn, nalu_rnn.NMU(1)])
    layers = flatten_layers(model)
    assert layers[0] is model
    assert rnn.cell in layers and rnn.cell.unit in layers
    assert model not in flatten_layers(model, include_self=False)


def test_patch_multi_worker_fit_is_idempotent():
    # On TensorFlow it patches the trainer once; elsewhere it does nothing.
    patch_multi_worker_fit()
    patch_multi_worker_fit()
    if keras.backend.backend() == "tensorflow":
        from keras.src.backend.tensorflow import trainer

        assert trainer._nalu_rnn_patched
