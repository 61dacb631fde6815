"""`pindai serve`: deployments registered on a real server; a batch started through the deployment (as an
operator does from the Prefect UI) runs and publishes a release."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_serve_runs_a_batch_started_from_a_deployment(prefect_server, small_batch: Path, tmp_path: Path) -> None:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    api = PREFECT_API_URL.value()
    assert api, "the test harness should expose its server"
    env = dict(os.environ, PREFECT_API_URL=api)
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve"], cwd=ROOT, env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        out = tmp_path / "releases"
        deadline = time.monotonic() + 120
        run = None
        while time.monotonic() < deadline:  # the deployments appear once `serve` has registered them
            try:
                run = run_deployment("digitize-batch/pindai-digitize", timeout=0,
                                     parameters={"input_dir": str(small_batch), "releases_dir": str(out),
                                                 "workers": 1})
                break
            except Exception:  # not registered yet
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(1)
        assert run is not None, "pindai serve never registered its deployments"
        while time.monotonic() < deadline + 240 and not (out / "latest").exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(1)
        assert (out / "latest" / "manifest.json").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_on_sigterm_and_sigint_within_5_s(prefect_server, sig: signal.Signals) -> None:
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ, PREFECT_API_URL=PREFECT_API_URL.value())
    # Not a new session: the signal goes to pindai alone, as `kill PID` or a service manager sends it.
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # printed once every deployment is registered and the runner runs
        assert "deployments registered" in line, (line, proc.stderr.read()[-2000:] if proc.poll() else "")
        time.sleep(2)  # well into its polling loop
        t0 = time.monotonic()
        proc.send_signal(sig)
        code = proc.wait(timeout=30)
        took = time.monotonic() - t0
        assert took < 5, f"{sig.name}: stopped after {took:.1f} s"
        assert code == 0, (code, proc.stderr.read()[-3000:])
        assert "pindai serve stopped" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
