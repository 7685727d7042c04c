"""``ml314 sweep``: every case of a study as a Dask task, the results kept as they arrive, a table and a report.

Cases run on a Dask cluster: by default a :class:`~distributed.LocalCluster` of worker *processes* on this machine
(one per core, one thread each: a case is one single-threaded simulation), or any running Dask scheduler by its
address (``tcp://HOST:8786``; SSH, Kubernetes, HPC job-queue deployments of Dask all give one). Results come back
with :func:`~distributed.as_completed`, in the order cases finish; each is kept in the output folder at once
(``storage/sweep_store.py``), so a stopped study resumes without redoing them. A case that fails (its inputs, its
simulation, or its worker) is a row with its error, and the study goes on.

Before the first case every worker loads the compiled kernels (:func:`ml314.runtime.sweep_case.warm_up`); when this
machine's numba cache is cold the client compiles once first, so the local workers load instead of each compiling.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from distributed import Client, Future, LocalCluster, as_completed

from ml314.errors import TransportError
from ml314.runtime.precompile import cache_is_warm
from ml314.runtime.sweep_analysis import analyse
from ml314.runtime.sweep_case import run_case, warm_up
from ml314.runtime.sweep_study import Case, Study
from ml314.storage.atomic import write_atomically
from ml314.storage.sweep_store import CaseStore, write_table

__all__ = ["SweepInterrupted", "SweepOutcome", "open_client", "run_study", "sweep"]

TABLE_FILE = "results.parquet"
#: how long to wait for a scheduler named by address before saying it cannot be reached
CONNECT_TIMEOUT_S = 30.0

#: called as each case's row arrives: (row, cases finished so far in this run, cases this run has to do)
ProgressFn = Callable[[dict[str, Any], int, int], None]


@dataclass(frozen=True)
class SweepOutcome:
    """What a run of a study did and where its results are."""

    out_dir: Path
    table_path: Path
    report_path: Path | None
    cases: int  # in the study
    kept: int  # finished by an earlier run, not run again
    ran: int  # run now
    failed: int  # rows with an error, of the whole study
    workers: int
    warm_up_s: float  # the slowest worker's
    wall_s: float  # from the first case submitted to the last result
    rows: tuple[dict[str, Any], ...]


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped the study; ``outcome`` says what is kept (every case finished so far)."""

    def __init__(self, outcome: SweepOutcome) -> None:
        super().__init__("interrupted")
        self.outcome = outcome


@contextmanager
def open_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A Dask client: of the scheduler at ``scheduler`` (an address), or of a new local cluster of ``workers``
    processes (default: one per core), one thread each; the local cluster is shut down on exit."""
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT_S)  # type: ignore[no-untyped-call]
        except (OSError, TimeoutError, ValueError) as exc:
            raise TransportError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        with client:
            yield client
        return
    if not cache_is_warm():  # compile once here, so the workers load the cache instead of each compiling
        warm_up()
    n = workers or os.cpu_count() or 1
    with _interrupts_ignored_by_children():
        cluster = LocalCluster(  # type: ignore[no-untyped-call]
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        )
    with cluster, Client(cluster) as client:  # type: ignore[no-untyped-call]
        yield client


@contextmanager
def _interrupts_ignored_by_children() -> Iterator[None]:
    """Start processes that ignore SIGINT: a Ctrl-C reaches the whole process group, and the client, not each
    worker, handles it (cancels the cases, shuts the cluster down) without a traceback from every worker. An ignored
    signal stays ignored across exec, and Python then installs no KeyboardInterrupt handler of its own."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def sweep(
    study: Study,
    out_dir: Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    report: bool = True,
) -> SweepOutcome:
    """Run ``study`` into ``out_dir`` on a local cluster or the scheduler at ``scheduler`` (see the module doc)."""
    store = CaseStore(out_dir)  # the output folder is checked before a cluster is started
    with open_client(scheduler, workers) as client:
        return run_study(study, out_dir, client, progress=progress, report=report, store=store)


def run_study(
    study: Study,
    out_dir: Path,
    client: Client,
    *,
    progress: ProgressFn | None = None,
    report: bool = True,
    store: CaseStore | None = None,
) -> SweepOutcome:
    """Run the cases of ``study`` not yet kept in ``out_dir`` on ``client``'s cluster; write the table and the
    report of every case kept. Ctrl-C raises :class:`SweepInterrupted` after writing the table of what is kept."""
    store = store or CaseStore(out_dir)
    cases = study.expand()
    write_atomically(out_dir / "study.json", json.dumps(_study_doc(study, cases), indent=2, default=str) + "\n")
    kept = store.finished(c.case_id for c in cases)
    todo = [c for c in cases if c.case_id not in kept]
    try:
        warm = client.run(warm_up) if todo else {}
    except Exception as exc:  # a worker without ml314 (or another version), or one that cannot run it
        raise TransportError(f"a Dask worker cannot run ml314's engine: {type(exc).__name__}: {exc}") from None
    workers = len(client.scheduler_info()["workers"])
    wall0 = time.perf_counter()
    ran = 0
    futures: list[Future[dict[str, Any]]] = []
    try:
        futures = client.map(run_case, todo, pure=False) if todo else []
        by_key = {f.key: c for f, c in zip(futures, todo, strict=True)}
        for future in as_completed(futures):  # type: ignore[no-untyped-call]
            row = _row(future, by_key[future.key])
            store.record(row)
            ran += 1
            future.release()
            if progress is not None:
                progress(row, ran, len(todo))
    except KeyboardInterrupt:
        client.cancel(futures)  # type: ignore[no-untyped-call]
        outcome = _finish(study, cases, store, out_dir, report=False, kept=len(kept), ran=ran, workers=workers,
                          warm=warm, wall_s=time.perf_counter() - wall0)  # fmt: skip
        raise SweepInterrupted(outcome) from None
    return _finish(study, cases, store, out_dir, report=report, kept=len(kept), ran=ran, workers=workers, warm=warm,
                   wall_s=time.perf_counter() - wall0)  # fmt: skip


def _row(future: Future[dict[str, Any]], case: Case) -> dict[str, Any]:
    """The case's row, or (its worker died, the task was lost) its inputs and what Dask said."""
    if future.status == "finished":
        row: dict[str, Any] = future.result()
        return row
    exc = future.exception()  # type: ignore[no-untyped-call]
    return case.inputs() | {"error": f"{type(exc).__name__}: {' '.join(str(exc).split())}", "wall_s": None}


def _finish(
    study: Study,
    cases: list[Case],
    store: CaseStore,
    out_dir: Path,
    *,
    report: bool,
    kept: int,
    ran: int,
    workers: int,
    warm: dict[str, float],
    wall_s: float,
) -> SweepOutcome:
    rows = [r for c in cases if (r := store.load(c.case_id)) is not None]
    rows, series = analyse(rows, study)
    table = write_table(rows, out_dir / TABLE_FILE)
    failed = sum(r.get("error") is not None for r in rows)
    page = None
    if report:
        from ml314.storage.sweep_report import write_sweep_report  # noqa: PLC0415 - matplotlib only for a report

        link = {None: "as simulate (on for 2+ modules)", True: "on", False: "off"}[study.with_link]
        meta = (f"{len(rows)} of {len(cases)} cases ({failed} failed); every case a full simulation with the BMS, "
                f"bank link {link}; seed {study.seed}.")  # fmt: skip
        page = write_sweep_report(out_dir, rows, series, title=f"ml314 sweep: {study.name}", meta=meta,
                                  currency=study.tariff.currency)  # fmt: skip
    return SweepOutcome(out_dir, table, page, len(cases), kept, ran, failed, workers, max(warm.values(), default=0.0),
                        wall_s, tuple(rows))  # fmt: skip


def _study_doc(study: Study, cases: list[Case]) -> dict[str, Any]:
    return {"study": asdict(study), "cases": [c.inputs() for c in cases]}
