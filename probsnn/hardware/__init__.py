"""Stochastic hardware: PCM crossbars, binary stochastic synapses and energy accounts.

Hardware is a realisation of weights (ARCHITECTURE.md, principle 6): the ideal parameters of any
network are mapped to what a device would hold and read back, so the network runs "on" the emulation.
"""
from . import binary, crossbar, energy, pcm
from .binary import (
    WTAConfig,
    WTAParams,
    binary_stdp_update,
    expected_binary_stdp_update,
    init_wta,
    train_wta,
    wta_responses,
)
from .crossbar import (
    analog_matmul,
    finetune_hardware_in_the_loop,
    inject_programming_noise,
    map_weights,
    program_weights,
    read_weights,
    realise_weights,
    train_hardware_aware,
)
from .energy import EnergyCosts, OperationCounts, count_operations, estimate_energy
from .pcm import ONE_DAY, ONE_HOUR, ONE_YEAR, PCMConfig, PCMDevices, program_devices, read_devices, simulate_conductance

__all__ = [
    "binary", "crossbar", "energy", "pcm",
    "WTAConfig", "WTAParams", "binary_stdp_update", "expected_binary_stdp_update", "init_wta",
    "train_wta", "wta_responses",
    "analog_matmul", "finetune_hardware_in_the_loop", "inject_programming_noise", "map_weights", "program_weights",
    "read_weights", "realise_weights", "train_hardware_aware",
    "EnergyCosts", "OperationCounts", "count_operations", "estimate_energy",
    "ONE_DAY", "ONE_HOUR", "ONE_YEAR", "PCMConfig", "PCMDevices", "program_devices", "read_devices",
    "simulate_conductance",
]
