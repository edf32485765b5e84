"""ERNIE beyond traffic: training and evaluation of the particle and mean-field learners.

``train(config, run_dir)`` runs a :class:`LabRunConfig`; ``noise_sweep`` measures return against
observation noise. The CLI front end is ``ernie-traffic lab``.
"""
