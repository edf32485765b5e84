"""ERNIE beyond traffic: training and evaluation of the particle and mean-field learners.

``train(config, run_dir)`` runs a :class:`LabRunConfig`; ``noise_sweep`` measures one run's return
against observation noise; :mod:`ernie_traffic.lab.stress` sweeps runs through the stress test's runner
and report. The CLI front end is ``ernie-traffic lab``.
"""
