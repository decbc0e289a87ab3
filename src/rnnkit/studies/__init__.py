"""Studies: many trainings compared, as one resumable, parallel command on Optuna.

- :mod:`rnnkit.studies.spec`: the study file (task, metric, seeds, base options, grid or search);
- :mod:`rnnkit.studies.trial`: the one function that trains and evaluates a trial;
- :mod:`rnnkit.studies.engine`: the Optuna study, its workers, interruption and resuming;
- :mod:`rnnkit.studies.report`: trials.csv, report.md and figures;
  :mod:`rnnkit.studies.stats` and :mod:`rnnkit.studies.figures` serve it.

Needs the ``[study]`` extra (``pip install 'rnnkit[study]'``: optuna and matplotlib).
"""
