"""Register pindai's flows as deployments on a running Prefect server, so an operator can start a
batch from the Prefect UI (`pindai serve`, with PREFECT_API_URL pointing at the server)."""

from __future__ import annotations

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


def serve() -> None:
    from prefect import serve as prefect_serve

    prefect_serve(*deployments(), limit=1)  # one batch at a time: a batch already uses every core
