"""ANN-to-SNN conversion: rate conversion (Rueckauer et al. 2017), few-spike conversion (Stockl & Maass
2021) and hybrid surrogate-gradient fine-tuning (Rathi et al. 2020).

The few-spike neuron itself (``FSParams``, ``fs_neuron``) is :mod:`probsnn.neurons.fewspike`.
"""
from .ann import (
    ACTIVATIONS,
    AvgPool2D,
    Conv2D,
    Dense,
    Flatten,
    MaxPool2D,
    activate,
    ann_accuracy,
    ann_activations,
    ann_forward,
    check_network,
    count_macs,
    fit_classifier,
    init_cnn,
    init_mlp,
    layer_linear,
    layers_from_arrays,
)
from .fewspike import (
    FSFit,
    FSNetwork,
    convert_fewspike,
    fit_fs_neuron,
    load_fs_params,
    pretrained_fs,
    run_fs_network,
    run_fs_pipelined,
    save_fs_params,
)
from .hybrid import FineTuneHistory, fine_tune_rate_snn, hybrid_loss, output_logit_scale
from .rate import (
    RateRun,
    RateSNN,
    accuracy_vs_time,
    conversion_report,
    convert_rate,
    normalisation_scales,
    normalise_layers,
    run_rate_snn,
)

__all__ = [
    "ACTIVATIONS", "Dense", "Conv2D", "AvgPool2D", "MaxPool2D", "Flatten", "activate", "check_network",
    "layer_linear", "ann_forward", "ann_activations", "ann_accuracy", "layers_from_arrays", "init_mlp",
    "init_cnn", "fit_classifier", "count_macs", "RateSNN", "RateRun", "normalisation_scales",
    "normalise_layers", "convert_rate", "run_rate_snn", "accuracy_vs_time", "conversion_report", "FSFit",
    "fit_fs_neuron", "save_fs_params", "load_fs_params", "pretrained_fs", "FSNetwork", "convert_fewspike",
    "run_fs_network", "run_fs_pipelined", "FineTuneHistory", "output_logit_scale", "hybrid_loss",
    "fine_tune_rate_snn",
]
