"""Training runs: config, the loop (:func:`ernie_traffic.training.loop.train`), seeds, progress.
A run's folder is :class:`ernie_traffic.runs.RunDirectory`."""
