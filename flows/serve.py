"""Register pindai's flows as deployments on a running Prefect server, so an operator can start a
batch from the Prefect UI (`pindai serve`, with PREFECT_API_URL pointing at the server)."""

from __future__ import annotations

from collections.abc import Callable

from prefect.deployments.runner import RunnerDeployment

from flows.digitize import digitize_batch
from flows.maintenance import apply_corrections_flow, publish_release, rerun_failed, update_digit_model


def deployments() -> list[RunnerDeployment]:
    return [
        digitize_batch.to_deployment(name="pindai-digitize", tags=["pindai"],
                                     description="Read a folder of scans and publish a release"),
        rerun_failed.to_deployment(name="pindai-rerun-failed", tags=["pindai"]),
        apply_corrections_flow.to_deployment(name="pindai-apply-corrections", tags=["pindai"]),
        publish_release.to_deployment(name="pindai-publish-release", tags=["pindai"]),
        update_digit_model.to_deployment(name="pindai-update-digit-model", tags=["pindai"],
                                         description="Learn from the stewards' decisions; promote only if better"),
    ]


# After SIGTERM/SIGINT the runner gets this long to cancel a batch in flight and stop polling; then
# the process exits anyway (operators and service managers expect a stop within seconds).
STOP_GRACE_S = 3.0


def serve(grace_s: float = STOP_GRACE_S, ready: Callable[[int], None] | None = None) -> int:
    """Serve the deployments until SIGTERM or SIGINT; returns the exit code (0: asked to stop).

    Prefect's runner runs in a thread of its own, so this (main) thread owns the signals: a stop is
    never lost in the runner's shutdown path, and it is bounded by ``grace_s``. ``ready(n)`` is called
    once the ``n`` deployments are registered and the runner started."""
    import asyncio
    import signal
    import threading

    from prefect.runner import Runner

    stop = threading.Event()
    failure: list[BaseException] = []
    # First of all: a stop while the deployments are still being registered counts too.
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    runner = Runner(limit=1, pause_on_shutdown=False)  # one batch at a time: a batch uses every core

    def run() -> None:
        try:
            asyncio.run(runner.start())
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            failure.append(exc)
        finally:
            stop.set()

    try:
        thread = threading.Thread(target=run, name="pindai-serve-runner", daemon=True)
        registered = 0
        for d in deployments():
            if stop.is_set():
                return 0
            runner.add_deployment(d)  # registered with the server here (an API call each)
            registered += 1
        if stop.is_set():
            return 0
        thread.start()
        if ready:
            ready(registered)
        while not stop.wait(0.5):  # short waits: signal handlers run between them
            pass
        if thread.is_alive() and runner.started and getattr(runner, "_loop", None) is not None:
            try:
                runner.execute_in_background(runner.astop).result(timeout=grace_s)
            except Exception:  # noqa: BLE001, S110 - not stopped in time: the process exits anyway
                pass
            thread.join(timeout=0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if failure and not isinstance(failure[0], asyncio.CancelledError | KeyboardInterrupt | SystemExit):
        raise failure[0]
    return 0
