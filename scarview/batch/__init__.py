"""Folder jobs: measure archives of patients on local processes or a Dask cluster.

``scarview batch INPUT_DIR --out OUT_DIR`` calls :func:`run_batch`. See
:mod:`scarview.batch.runner` for the flow, :mod:`scarview.batch.plan` for how
the folder is read, :mod:`scarview.batch.tasks` for what a worker does and
:mod:`scarview.batch.state` for how an interrupted batch resumes.
"""

from scarview.batch.runner import (
    BatchInterrupted,
    BatchOptions,
    BatchSummary,
    run_batch,
)

__all__ = ["BatchInterrupted", "BatchOptions", "BatchSummary", "run_batch"]
