"""Errors that stop a command (not a file): each a type with a stable code and a one-line message.

A bad *input file* never raises, it ends with a ``Reason`` (schemas.reasons). These are the
problems of a whole command: nothing to read, a register that cannot be used, a worker that cannot
see the batch. Only the CLI (flows.cli) turns them into exit codes; the message is the one line
the operator reads, so it names the path and what to do.
"""

from __future__ import annotations

from typing import ClassVar


class PindaiError(Exception):
    """Base of the command-stopping errors; ``code`` is stable (logs, tests, scripts)."""

    code: ClassVar[str] = "error"


class EmptyBatch(PindaiError):
    """The input folder holds no file pindai could take: nothing is read, no release is published."""

    code = "empty_batch"

    def __init__(self, input_dir: str, ignored: int = 0, skipped_links: int = 0) -> None:
        self.input_dir, self.ignored, self.skipped_links = input_dir, ignored, skipped_links
        others = []
        if ignored:
            others.append(f"{ignored} other file(s) ignored")
        if skipped_links:
            others.append(f"{skipped_links} folder link(s) not followed")
        extra = f" ({', '.join(others)})" if others else ""
        super().__init__(f"no scans in {input_dir}{extra}: expected .pdf .jpg .jpeg .png .tif .tiff .webp "
                         f"files; no release published, 'latest' unchanged")

    def __reduce__(self):  # noqa: ANN204 - picklable across processes (Prefect, Dask)
        return (type(self), (self.input_dir, self.ignored, self.skipped_links))


class InputFolderMissing(PindaiError):
    code = "input_folder_missing"

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(f"input folder {path} does not exist or is not a folder")

    def __reduce__(self):  # noqa: ANN204
        return (type(self), (self.path,))


class WorkerCannotOpen(PindaiError):
    """A reading worker could not open files the planner had read (removed or moved since, permissions,
    or a Dask worker that does not see the batch's filesystem). Raised by the read task so it is
    retried (a file moved back, a network filesystem that catches up); ``outcomes`` are the chunk's
    outcomes, those files ``failed`` with ``Reason.WORKER_CANNOT_OPEN``, used once retries are spent."""

    code = "worker_cannot_open"

    def __init__(self, paths: list[str], outcomes: list | None = None) -> None:
        self.paths, self.outcomes = list(paths), list(outcomes or [])
        more = f" and {len(self.paths) - 1} more" if len(self.paths) > 1 else ""
        super().__init__(f"a reading worker cannot open {self.paths[0] if self.paths else '?'}{more}, "
                         f"which the planner read")

    def __reduce__(self):  # noqa: ANN204
        return (type(self), (self.paths, self.outcomes))


class NothingCouldBeOpened(PindaiError):
    """No reading worker could open any file the planner read: the workers do not see the batch
    (a Dask cluster without its filesystem, the folder unmounted). A run, not a data, failure:
    nothing is published."""

    code = "nothing_could_be_opened"

    def __init__(self, paths: list[str]) -> None:
        self.paths = list(paths)
        super().__init__(f"no reading worker could open any of the {len(self.paths)} file(s) the planner read "
                         f"(first: {self.paths[0] if self.paths else '?'}); do the workers see that folder? "
                         f"no release published, 'latest' unchanged")

    def __reduce__(self):  # noqa: ANN204
        return (type(self), (self.paths,))


class RegisterUnusable(PindaiError, ValueError):
    """The TPS register given with --register cannot be read or is not a register (a ValueError too:
    callers that handled the old untyped error keep working)."""

    code = "register_unusable"

    def __init__(self, path: str, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(f"register {path}: {why}")

    def __reduce__(self):  # noqa: ANN204
        return (type(self), (self.path, self.why))


class TruthUnusable(PindaiError, ValueError):
    """The truth.jsonl given to ``pindai eval`` is not the generator's truth."""

    code = "truth_unusable"

    def __init__(self, path: str, why: str) -> None:
        self.path, self.why = path, why
        super().__init__(f"truth {path}: {why}")

    def __reduce__(self):  # noqa: ANN204
        return (type(self), (self.path, self.why))
