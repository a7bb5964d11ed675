"""The MNIST family's recipes, encoders and default cells.

The reason for each value is its recipe's one line; the measurements behind
it are in docs/recipes.md, under the section its `docs` names.
"""

from tasks.recipes import Recipe, TaskRecipes

MNIST_RECIPE = Recipe(
    "The budget Table 2 was measured with: 2000 steps of 64 x 10 images "
    "(140-200 s on one core), Adam with cosine decay, the paper's final-target "
    "supervision, the class-vector encoder and a short-length curriculum.",
    {
        "steps": 2000,
        "batch_size": 64,
        "learning_rate": 1e-3,
        "lr_decay": True,
        "eval_lengths": (1, 10, 100, 1000),
        # The final target only: every-step targets reveal each digit. (The
        # curriculum's length-1 stage is the one place a target is one
        # image's count or value.)
        "supervision": "final",
        "encoder": "classes",
        # Lengths 1, 2, 5 over the first 20% of the steps.
        "curriculum": True,
        "head_init": "random",
    },
    docs="mnist",
)

MNIST_PRODUCT_RECIPE = Recipe(
    "Madsen & Johansen's sequential MNIST product: trained on pairs of "
    "digits, evaluated at every length 1 to 20 (9^20 still fits float32); "
    "5000 steps, the best of four one-seed probes.",
    {
        "train_length": 2,
        "eval_lengths": tuple(range(1, 21)),
        "steps": 5000,
    },
    docs="mnist_product",
)

MNIST_BASELINE_RECIPE = Recipe(
    "The recurrent baselines fitted at the training length, so that their "
    "failure beyond it is the paper's point: the paper's linear encoder, a "
    "read-out at the training targets' scale, no curriculum, 5000 steps.",
    {
        "encoder": "linear",
        "scale_targets": True,
        "curriculum": False,
        "steps": 5000,
    },
    docs="mnist-baselines",
)

MNIST_CELL_RECIPES = {
    "nalu": Recipe(
        "The NALU head's unit gates, decided early, are snapped exact at half "
        "of training, so the encoder learns under the head it is evaluated "
        "with.",
        {"gate_snap": 0.5},
        docs="the-nalu-head",
    ),
}

# The digit encoders (`--encoder`), with the prior each gives the head.
MNIST_ENCODERS = {
    "classes": "a softmax over 10 classes (the model is told there are ten "
    "symbols), then for addition a Dense(1), the value of each class, learnt",
    "linear": "the paper's: a linear read-out of the ConvNet's 500 units, "
    "no class structure and no digit-value start",
}

RECIPES = TaskRecipes(
    MNIST_RECIPE, cells=MNIST_CELL_RECIPES, baseline=MNIST_BASELINE_RECIPE
)
