"""The arithmetic family's recipes and default cells.

The reason for each value is its recipe's one line; the measurements behind
it are in docs/recipes.md, under the section its `docs` names.
"""

from tasks.recipes import Recipe, TaskRecipes, lengths_from_train_length

# Cosine decay (`--lr-decay`) ends at this fraction of the learning rate.
FINAL_LEARNING_RATE_FRACTION = 0.01

ARITHMETIC_RECIPE = Recipe(
    "Trask et al.'s recurrent task (Table 1): 10^4 steps of 64 fresh "
    "sequences; two state units, one running sum for a, one for b.",
    {
        "steps": 10000,
        "batch_size": 64,
        "units": 2,
        "eval_lengths": lengths_from_train_length(10, 100, 1000),
    },
    docs="arithmetic",
)

ARITHMETIC_CELL_RECIPES = {
    "nac": Recipe(
        "The NAC's rate in Table 1's recipe.",
        {"learning_rate": 0.1},
        docs="arithmetic",
    ),
    "nalu": Recipe(
        "The NAC's rate; 3 * 10^4 steps of 512 sequences, so that a stray "
        "input leaves a sum within the budget; gradient spikes clipped and "
        "the read-out's pull after the cell's, so that neither a rare batch "
        "nor the pull's start throws a near-solution onto a constant; the "
        "pull at 5, ramped in from 50% to 80% and kept, so that the two "
        "state units of a product cannot trade scale (one growing a little "
        "each step, the other shrinking) unseen at length 10, and late, so "
        "that it does not hold a weight the data has not yet moved.",
        {
            "learning_rate": 0.1,
            "steps": 30000,
            "batch_size": 512,
            "optimizer": "spike_clipped_adam",
            "sparsity": 5.0,
            "sparsity_start": 0.5,
            "sparsity_end": 0.8,
            "readout_sparsity_start": 0.7,
        },
        docs="the-nalu-arithmetic",
    ),
    "inalu": Recipe(
        "Schlör et al.'s iNALU training aids: gradients clipped per entry and "
        "their saturation penalty once the loss is below 1; the later units' "
        "rate.",
        {"learning_rate": 0.03, "clipvalue": 1.0, "saturation": 0.05},
        docs="the-inalu-arithmetic",
    ),
    "realnpu": Recipe(
        "The later units' rate and 3 * 10^4 steps: the relevances of the "
        "inputs the root does not use need the time to settle at 0 or 1.",
        {"learning_rate": 0.03, "steps": 30000},
        docs="the-realnpu-arithmetic",
    ),
    "nau": Recipe(
        "3 * 10^4 steps at 1e-2, cosine-decayed, so that the weights settle "
        "to the precision length 100 asks as trained; the "
        "sparsity pull at 1, ramped in from 30% to 60% and kept to the end, "
        "so that no weight stays split between the two sums.",
        {
            "learning_rate": 0.01,
            "lr_decay": True,
            "steps": 30000,
            "sparsity": 1.0,
            "sparsity_start": 0.3,
            "sparsity_end": 0.6,
        },
        docs="the-nau-arithmetic",
    ),
    "later_units": Recipe(
        "The rate the later arithmetic units (NAU, NMU, NPUs) were measured with.",
        {"learning_rate": 0.03},
        docs="arithmetic",
    ),
}

BASELINE_RECIPE = Recipe(
    "The baselines of Table 1 (LSTM, GRU, plain RNNs): 32 state units and "
    "Adam's usual rate.",
    {"units": 32, "learning_rate": 1e-3},
    docs="arithmetic",
)

COMPRESSED_RAMP = Recipe(
    "Madsen & Johansen's static add/sub (NAU -> NAU) in a CPU budget: a high, "
    "decaying rate and their sparsity ramp compressed into 10^4 steps.",
    {
        "steps": 10000,
        "batch_size": 128,
        "learning_rate": 0.03,
        "lr_decay": True,
        "sparsity": 1.0,
        "sparsity_start": 0.1,
        "sparsity_end": 0.5,
        "sparsity_stop": 0.8,
    },
    docs="static-nau",
)

COMMON_MODE_RAMP = Recipe(
    "Madsen & Johansen's static mul (NAU -> NMU): CommonModeAdam breaks the "
    "NAU's tie fast, then their sparsity pull (strength 10), ramped in late.",
    {
        "steps": 30000,
        "batch_size": 512,
        "learning_rate": 0.01,
        "lr_decay": True,
        "optimizer": "common_mode_adam",
        "sparsity": 10.0,
        "sparsity_start": 0.4,
        "sparsity_end": 0.7,
        "sparsity_stop": None,
    },
    docs="static-nmu",
)

# `--static`, by the cell the static model ends in (its NAU -> NAU or
# NAU -> NMU); other cells keep the arithmetic recipe.
STATIC_RECIPES = {
    "nau": COMPRESSED_RAMP,
    "nmu": COMMON_MODE_RAMP,
    "snmu": COMMON_MODE_RAMP,
}

# The NALM benchmark's steps at which Madsen & Johansen's sparsity ramp
# starts and reaches full strength, 20000 and 35000 of 5 * 10^4.
BENCHMARK_RAMP = {"sparsity_start": 0.4, "sparsity_end": 0.7, "sparsity_stop": None}

SINGLE_LAYER_RECIPE = Recipe(
    "Mistry, Farrahi & Hare's single-layer NALM benchmark: two inputs, a = x_i "
    "and b = x_j; 5 * 10^4 steps of 128 fresh samples, Adam at 1e-3 with "
    "PyTorch's epsilon 1e-8 (Keras's 1e-7 stalls a saturating unit); the "
    "weights with the lowest interpolation MSE (10^4 samples, every 1000 "
    "steps) judged as trained; no sparsity pull unless the unit's recipe has "
    "one.",
    {
        "input_size": 2,
        "subset_ratio": 0.5,
        "overlap_ratio": 0.0,
        "steps": 50000,
        "batch_size": 128,
        "learning_rate": 1e-3,
        "optimizer": "adam",
        "adam_epsilon": 1e-8,
        "lr_decay": False,
        "warmup": 0.0,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "sparsity": 0.0,
        "sparsity_end": None,
        "sparsity_stop": None,
        "readout_sparsity_start": None,
        "saturation": 0.0,
        "gate_snap": None,
        "weight_snap": 0.0,
        "harden": False,
        "select": "best-interpolation",
        "validate_every": 1000,
        "eval_sequences": 10000,
        "check_every": 1000,
    },
    docs="the-nalm-benchmarks-single-layer",
)

# Mistry et al.'s training of the NMRU, shared by its variants, and two
# aids of ours (docs/nalm-benchmark.md, "Division"): each input's two
# weights pulled to round together, then every weight within the hardening
# tolerance snapped once, after the pull's ramp, and trained on.
NMRU_TRAINING = {
    "learning_rate": 1e-2,
    "global_clipnorm": 1.0,
    "sparsity": 10.0,
    **BENCHMARK_RAMP,
    "pair_pull": 1.0,
    "weight_snap": 0.85,
}

SINGLE_LAYER_CELL_RECIPES = {
    "nau": Recipe(
        "The benchmark's NAU: sparsity pull 0.01, ramped in from step 20000 to 35000.",
        {"sparsity": 0.01, **BENCHMARK_RAMP},
        docs="the-nalm-benchmarks-single-layer",
    ),
    "nmu": Recipe(
        "The benchmark's NMU: sparsity pull 10 (stable-nalu's default), ramped "
        "in from step 20000 to 35000.",
        {"sparsity": 10.0, **BENCHMARK_RAMP},
        docs="the-nalm-benchmarks-single-layer",
    ),
    "snmu": Recipe(
        "The benchmark's sNMU: the NMU's sparsity pull 10, ramped in from step "
        "20000 to 35000 (nalm-benchmark's --nmu-noise runs).",
        {"sparsity": 10.0, **BENCHMARK_RAMP},
        docs="the-nalm-benchmarks-single-layer",
    ),
    "nmru": Recipe(
        "Mistry et al.'s sign NMRU: rate 1e-2, the gradients' joint norm "
        "clipped to 1, sparsity pull 10 ramped in from step 20000 to 35000; "
        "ours: an input's two weights pulled to round together, and the "
        "weights snapped once at 85% of training, so that pairs held short "
        "of their values by the sign's sum land on them together.",
        NMRU_TRAINING,
        docs="the-nalm-benchmarks-single-layer",
    ),
    "snmru": Recipe(
        "The NMRU's recipe (rate 1e-2, joint norm clipped to 1, pull 10, "
        "the pairs' pull and the snap at 85%).",
        NMRU_TRAINING,
        docs="the-nalm-benchmarks-single-layer",
    ),
    "inalu": Recipe(
        "The benchmark's iNALU: gradients clipped per entry at 0.1 and the "
        "authors' saturation penalty once the loss is below 1.",
        {"clipvalue": 0.1, "saturation": 0.05},
        docs="the-nalm-benchmarks-single-layer",
    ),
    "realnpu": Recipe(
        "The benchmark's NPUs' rate, 5e-3.",
        {"learning_rate": 5e-3},
        docs="the-nalm-benchmarks-single-layer",
    ),
    "npu": Recipe(
        "The benchmark's NPUs' rate, 5e-3.",
        {"learning_rate": 5e-3},
        docs="the-nalm-benchmarks-single-layer",
    ),
}

RECIPES = TaskRecipes(
    ARITHMETIC_RECIPE,
    cells=ARITHMETIC_CELL_RECIPES,
    fallback_cell="later_units",
    baseline=BASELINE_RECIPE,
    static=STATIC_RECIPES,
    single_layer=SINGLE_LAYER_RECIPE,
    single_layer_cells=SINGLE_LAYER_CELL_RECIPES,
)

# The cell of a run without `--cell`, by op, where it is not the NAC
# (docs/recipes.md, "Default cells"). Recurrent + and - take the NAU, whose
# clipped weights reach 0 and 1 exactly as trained where the NAC's
# tanh * sigmoid only nears them. The static ones were chosen on the NALM
# benchmark (docs/nalm-benchmark.md): the NAU for + and -, the sNMU for *
# (over the NMU, on probe seeds where the NMU fails), the NMRU for /;
# square and sqrt keep the recurrent choice.
DEFAULT_CELLS = {
    "add": "nau",
    "sub": "nau",
    "mul": "nalu",
    "square": "nalu",
    "sqrt": "realnpu",
    "div": "nalu",
}
STATIC_DEFAULT_CELLS = {"add": "nau", "sub": "nau", "mul": "snmu", "div": "nmru"}
