"""The process pool that reads files: workers come from a fork server, never forked from the caller.

Why: the caller is often multi-threaded (Prefect's engine, its API client and log handlers, the
embedded server in tests). Forking it copies locks held by other threads into the child, where
nobody will ever release them: a worker then waits forever on its first log line or import lock
(seen here: a test run hung with both workers parked in futex_wait, 0 s of CPU). The fork server is a
clean single-threaded process that has already imported the reader's modules, so a worker still
starts in milliseconds.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

_CTX = mp.get_context("forkserver")
_CTX.set_forkserver_preload(["extract.process"])


def reading_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(max_workers=workers, mp_context=_CTX)
