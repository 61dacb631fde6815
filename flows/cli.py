"""The ``pindai`` command. The only place that turns outcomes into exit codes."""

from __future__ import annotations

import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table


class _Pindai(typer.Typer):
    """``app()`` (the ``pindai`` script, ``python -m flows.cli``) runs through ``main``: known errors
    become one line and an exit code, never a traceback unless ``--debug``."""

    def __call__(self, *args: object, **kwargs: object) -> None:
        main()


app = _Pindai(add_completion=False, no_args_is_help=True,
              help="pindai: scanned election result forms in, validated open data out.")
console = Console(stderr=True, soft_wrap=True)  # messages stay one line (greppable, no mid-path breaks)
out = Console(soft_wrap=True)

EXIT_OK, EXIT_USAGE, EXIT_INPUT, EXIT_WRITE, EXIT_VERIFY, EXIT_NO_TRAIN = 0, 2, 3, 4, 5, 6
EXIT_EMPTY = 7  # the input folder holds nothing to read: no release
EXIT_INTERNAL = 70  # an unexpected error (a bug): one line, the traceback with --debug (EX_SOFTWARE)


@app.callback()
def _options(
    debug: Annotated[bool, typer.Option("--debug", help="on an error, show the full traceback (and Prefect's)")]
    = False,
) -> None:
    """pindai: scanned election result forms in, validated open data out."""
    # Read by ``main`` before parsing (Prefect's logging must be quiet before any flow starts).


def _abs(path: Path) -> Path:
    """Paths are made absolute once, here: every worker (a process, a Dask worker in another
    folder) and every later command (run.json records them) sees the same file."""
    import os

    return Path(os.path.abspath(path.expanduser()))


def _check_register(register: Path | None) -> Path | None:
    """Read the register once before any work: an unusable one stops the command with one line
    (``RegisterUnusable``) instead of failing inside a flow after the reading."""
    if register is None:
        return None
    from schemas.register import load_register

    register = _abs(register)
    load_register(register)
    return register


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Argument(help="folder to write the generated batch into")],
    forms: Annotated[int, typer.Option(help="number of forms (TPS x form type)")] = 10,
    province: Annotated[str, typer.Option(help="2-digit province code, e.g. 32 (Jawa Barat)")] = "32",
    seed: Annotated[int, typer.Option(help="random seed; the same seed gives identical files")] = 0,
    form_type: Annotated[
        list[str] | None, typer.Option(help="ppwp, ppwp-salinan, dpr, dhasil-ppwp (repeatable)")
    ] = None,
    quality: Annotated[str, typer.Option(
        help="scan | photo | fax | photo-hard (oblique, bent, wide-lens, turned phone photos) | mixed")] = "mixed",
    handwriting: Annotated[Path | None, typer.Option(help="DIR/<label>/*.png of handwritten digits")] = None,
    template_pdf: Annotated[Path | None, typer.Option(help="fill this official PDF instead of the look-alike")] = None,
    inconsistent_rate: Annotated[float, typer.Option(help="share of forms with realistic officer mistakes")] = 0.0,
    register: Annotated[Path | None, typer.Option(help="TPS register (kpu2024-wilayah-tps.json format)")] = None,
    workers: Annotated[int, typer.Option(help="processes")] = 0,
    source: Annotated[list[str] | None, typer.Option(
        help="write with only these handwriting sources (mnist, ardis, strokes; repeatable): a batch of hands "
             "a cross-source model never saw; mnist-train (fetched by scripts/unseen_writers.py): hands no "
             "packaged model saw")] = None,
    rendering: Annotated[str, typer.Option(
        help="draw the same forms otherwise: default | small-offcentre | thin-faint | thick-marker | blocky "
             "(how digits are written) | other-scanner (another capture pipeline)")] = "default",
) -> None:
    """Generate realistic filled-in forms with known numbers (truth.jsonl) for testing and demos."""
    from synth.digit_sources import SOURCES
    from synth.generate import GenerateOptions, generate_batch
    from synth.handwriting import NAMED_ONLY, named_source

    opts_kwargs = dict(out_dir=out_dir, forms=forms, province=province, seed=seed, quality=quality,
                       handwriting=handwriting, template_pdf=template_pdf,
                       inconsistent_rate=inconsistent_rate, register_file=register, rendering=rendering)
    if form_type:
        opts_kwargs["form_types"] = form_type
    if workers:
        opts_kwargs["workers"] = workers
    if source:
        known = (*SOURCES, "strokes", *NAMED_ONLY)
        bad = sorted(set(source) - set(known))
        if bad:
            console.print(f"[red]error:[/] unknown handwriting source(s) {', '.join(bad)} ({', '.join(known)})")
            raise typer.Exit(EXIT_USAGE)
        opts_kwargs["sources"] = source
    try:
        for name in opts_kwargs.get("sources", ()):
            if name in NAMED_ONLY:
                named_source(name)  # here, not in a worker: a source never fetched is a usage error
        opts = GenerateOptions(**opts_kwargs)
    except ValueError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_USAGE) from exc
    with _progress("generating") as (bar, task_id):
        try:
            summary = generate_batch(opts, progress=lambda done, total: bar.update(task_id, completed=done,
                                                                                     total=total))
        except ValueError as exc:  # options that only the register can judge, e.g. an unknown province
            console.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(EXIT_USAGE) from exc
    out.print(f"generated {summary.forms} forms in {summary.files} files under {out_dir} "
              f"(truth: {out_dir / 'truth.jsonl'})")


@app.command()
def run(
    input_dir: Annotated[Path, typer.Argument(help="folder of scans/photos/PDFs (searched recursively)")],
    out: Annotated[Path, typer.Option("--out", help="releases folder")] = Path("releases"),
    workers: Annotated[int, typer.Option(help="worker processes (default: all cores)")] = 0,
    prefect: Annotated[bool, typer.Option(help="run as a Prefect flow (default) or plain")] = True,
    cache: Annotated[bool, typer.Option(help="reuse finished files from earlier (or crashed) runs")] = True,
    register: Annotated[Path | None, typer.Option(
        help="TPS register (kpu2024-wilayah-tps.json format): region names, coverage, recap checks")] = None,
    dask_address: Annotated[str | None, typer.Option(help="read on a Dask cluster (tcp://host:port)")] = None,
) -> None:
    """Read every form in INPUT_DIR and publish a release (Parquet per province) under --out. The
    release starts from the latest one's state: its corrections, and its register unless --register."""
    from load.catalogue import CatalogueError
    from load.release import CarryOverError
    from schemas.settings import Settings

    input_dir, out, register = _abs(input_dir), _abs(out), _check_register(register)
    if not input_dir.is_dir():
        console.print(f"[red]error:[/] input folder {escape(str(input_dir))} does not exist or is not a folder")
        raise typer.Exit(EXIT_INPUT)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        console.print(f"[red]error:[/] cannot create the releases folder {escape(str(out))}: {exc.strerror}")
        raise typer.Exit(EXIT_WRITE) from exc
    t0 = time.perf_counter()
    with _progress("reading") as (bar, task_id):
        def progress(done: int, total: int, pages: int) -> None:
            rate = pages / max(time.perf_counter() - t0, 1e-6)
            bar.update(task_id, completed=done, total=total, description=f"reading ({rate:.1f} pages/s)")

        try:
            if prefect:
                from flows import digitize

                digitize.PROGRESS = progress
                res = digitize.digitize_batch(str(input_dir), str(out), workers=workers or None, use_cache=cache,
                                              dask_address=dask_address,
                                              register_file=str(register) if register else None)
                release = Path(res["release"])
            else:
                from flows.pipeline import run_pipeline

                settings = Settings.from_env()
                if workers:
                    settings.workers = workers
                if cache:
                    settings.cache_dir = str(out / ".cache")
                _, release = run_pipeline(input_dir, out, settings, progress, register=register)
        except (CatalogueError, CarryOverError) as exc:  # the parent release, whose state the new one starts from
            console.print(f"[red]error:[/] {escape(str(exc))}; the previous release and 'latest' are unchanged")
            raise typer.Exit(EXIT_INPUT) from exc
        except OSError as exc:
            console.print(f"[red]error:[/] could not write the release under {escape(str(out))}: {escape(str(exc))}")
            console.print("the previous release and 'latest' are unchanged")
            raise typer.Exit(EXIT_WRITE) from exc
    _print_summary(release, time.perf_counter() - t0)


review_app = typer.Typer(no_args_is_help=True, help="The data stewards' review loop.")
app.add_typer(review_app, name="review")


@review_app.command("export")
def review_export(
    release: Annotated[Path, typer.Argument(help="a release folder, or a releases folder (its latest)")],
    out_dir: Annotated[Path, typer.Option("--out", help="where to write review.html and corrections.csv")],
    source: Annotated[Path | None, typer.Option(help="the scans' folder, if moved since the run")] = None,
    register: Annotated[Path | None, typer.Option(help="TPS register, for region names")] = None,
) -> None:
    """Write a self-contained HTML page of every flagged form (crops, readings, alternatives, broken
    rules) and a corrections.csv template to fill in."""
    from load.catalogue import open_release
    from schemas.register import load_register
    from transform.review import export_review

    try:
        rel = open_release(release)
        reg = load_register(register) if register else rel.register()
        html = export_review(rel, out_dir, source, register=reg)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_INPUT) from exc
    out.print(f"review page: {html}\ncorrections template: {html.parent / 'corrections.csv'}")


@review_app.command("apply")
def review_apply(
    corrections: Annotated[Path, typer.Argument(help="the filled-in corrections.csv")],
    releases: Annotated[Path, typer.Option(help="releases folder whose latest release is corrected")] = Path(
        "releases"),
    reviewer: Annotated[str, typer.Option(help="who reviewed (used where the CSV's reviewer column is empty)")]
    = "steward",
    register: Annotated[Path | None, typer.Option(help="TPS register (default: the latest release's)")] = None,
) -> None:
    """Apply a steward's corrections, re-validate, and publish a new release with the audit trail
    (nothing is published when no row changes anything)."""
    from flows.maintenance import apply_corrections_flow
    from transform.corrections import CorrectionsError

    corrections, releases, register = _abs(corrections), _abs(releases), _check_register(register)
    if not corrections.is_file():
        console.print(f"[red]error:[/] {corrections} does not exist")
        raise typer.Exit(EXIT_INPUT)
    try:
        res = apply_corrections_flow(str(corrections), str(releases), reviewer,
                                     str(register) if register else None)
    except CorrectionsError as exc:
        console.print(f"[red]error:[/] {escape(_corrections_line(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INPUT) from exc
    if not res["published"]:
        out.print(escape(res["message"]))
        return
    rep = res["report"]
    out.print(f"applied {len(rep['applied'])} correction(s) to {len(rep['forms_changed'])} form(s); "
              f"newly verified {len(rep['newly_verified'])}, still flagged {len(rep['still_flagged'])}")
    if res["noop_lines"]:
        out.print(f"  {len(res['noop_lines'])} row(s) decide what is decided already (line(s) "
                  f"{', '.join(map(str, res['noop_lines']))}): not applied again")
    out.print(f"new release: {res['release']} (from {res['base_release']})")
    stored = res.get("reviewed") or {}
    out.print(f"labelled crops: {stored.get('boxes', 0)} box(es) of {stored.get('fields', 0)} field(s) stored in "
              f"{escape(str(stored.get('store', '')))} ({stored.get('held_out_boxes', 0)} held out for evaluation)")
    skipped = Counter(s["reason"] for s in stored.get("skipped", []))
    if skipped:
        out.print("  not stored: " + ", ".join(f"{n} field(s) {r}" for r, n in sorted(skipped.items())))


@review_app.command("serve")
def review_serve(
    releases: Annotated[Path, typer.Argument(help="the releases folder whose latest release is reviewed")],
    db: Annotated[str | None, typer.Option(
        "--db", help="SQLAlchemy URL (default: SQLite in RELEASES/.state; postgresql://... to share)")] = None,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8700,
    lease_minutes: Annotated[float, typer.Option(help="how long a steward holds a form")] = 15.0,
    register: Annotated[Path | None, typer.Option(help="TPS register (for publishing)")] = None,
    secure_cookies: Annotated[bool, typer.Option(help="mark cookies Secure (behind an HTTPS proxy)")] = False,
) -> None:
    """The review web app: stewards decide the doubtful fields, a supervisor publishes."""
    from review.app import AppConfig, serve
    from review.db import default_url

    if not releases.is_dir():
        console.print(f"[red]error:[/] releases folder {escape(str(releases))} does not exist")
        raise typer.Exit(EXIT_INPUT)
    cfg = AppConfig(releases_dir=releases, db_url=db or default_url(releases), lease_minutes=lease_minutes,
                    register_file=str(register) if register else None, secure_cookies=secure_cookies)
    out.print(f"pindai review on http://{host}:{port}/ (database {cfg.db_url.split('@')[-1]}); Ctrl+C stops")
    try:
        serve(cfg, host, port)
    except Exception as exc:  # noqa: BLE001 - one clear line: a bad --db URL, a busy port
        console.print(f"[red]error:[/] {escape(type(exc).__name__)}: {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc


review_user_app = typer.Typer(no_args_is_help=True, help="Review accounts.")
review_app.add_typer(review_user_app, name="user")


@review_user_app.command("add")
def review_user_add(
    name: Annotated[str, typer.Argument(help="account name")],
    role: Annotated[str, typer.Option(help="steward | supervisor")] = "steward",
    releases: Annotated[Path, typer.Option(help="releases folder (its .state holds the default database)")] = Path(
        "releases"),
    db: Annotated[str | None, typer.Option("--db", help="SQLAlchemy URL (as given to review serve)")] = None,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
    replace: Annotated[bool, typer.Option(help="reset the password (and role) of an existing account")] = False,
) -> None:
    """Create a steward or supervisor account (the password is hashed with argon2)."""
    from review.auth import AuthError, add_user
    from review.db import connect, default_url

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        user = add_user(connect(db or default_url(releases)), name, role, password, replace=replace)
    except AuthError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_USAGE) from exc
    out.print(f"{'reset' if replace else 'added'} {user.role} {user.name}")


model_app = typer.Typer(no_args_is_help=True, help="The digit reader: learn from the stewards' decisions.")
app.add_typer(model_app, name="model")


@model_app.command("update")
def model_update(
    samples: Annotated[int, typer.Option(help="fine-tuning samples")] = 40_000,
    minutes: Annotated[float | None, typer.Option(help="or a wall-clock budget for fine-tuning")] = None,
    base_train: Annotated[int, typer.Option(help="synthesized base crops trained on (not to forget)")] = 12_000,
    base_test: Annotated[int, typer.Option(help="synthesized base crops the models are compared on")] = 3_000,
    base_calib: Annotated[int, typer.Option(help="synthesized crops for the temperature and threshold")] = 2_000,
    reviewed_frac: Annotated[float, typer.Option(help="share of each batch from the reviewed crops")] = 0.5,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads")] = 1,
    base_source: Annotated[list[str] | None, typer.Option(
        help="real handwriting sources of the base data (repeatable; those the current model was trained on; "
             "default all)")] = None,
    reviewed_dir: Annotated[Path | None, typer.Option(help="reviewed-crop store (default PINDAI_REVIEWED_DIR)")]
    = None,
    models_dir: Annotated[Path | None, typer.Option(help="model store (default PINDAI_MODELS_DIR)")] = None,
) -> None:
    """Fine-tune the reader on the stewards' crops, compare it with the current model, promote it only if better."""
    from schemas.learning import UpdateError, UpdateProblem
    from schemas.settings import Settings
    from training.update import UpdateOptions, update_model

    learn = Settings.from_env().learn
    opts = UpdateOptions(samples=samples, minutes=minutes, base_train=base_train, base_test=base_test,
                         base_calib=base_calib, reviewed_frac=reviewed_frac, seed=seed, threads=threads,
                         base_sources=base_source)
    try:
        report = update_model(reviewed_dir or learn.reviewed_dir, models_dir or learn.models_dir, opts,
                              log=lambda m: console.print(escape(m)))
    except UpdateError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        code = {UpdateProblem.NO_TORCH: EXIT_NO_TRAIN, UpdateProblem.EMPTY_STORE: EXIT_INPUT,
                UpdateProblem.NO_TRAINING_CROPS: EXIT_INPUT, UpdateProblem.NO_HELD_OUT_CROPS: EXIT_INPUT}
        raise typer.Exit(code.get(exc.problem, EXIT_WRITE)) from exc
    _print_update(report)


def _print_update(report: dict) -> None:
    table = Table(title=f"{report['current']} (current) vs {report['candidate']} (candidate)")
    table.add_column("data")
    table.add_column("metric")
    table.add_column("current", justify="right")
    table.add_column("candidate", justify="right")
    for part in ("reviewed", "base"):
        cur, cand = report["scores"]["current"][part], report["scores"]["candidate"][part]
        name = "held-out reviewed" if part == "reviewed" else "base test"
        for k in ("boxes", "digit_acc", "symbol_acc", "coverage", "accepted_error", "threshold"):
            table.add_row(f"{name}" if k == "boxes" else "", k, str(cur[k]), str(cand[k]))
    out.print(table)
    verdict = "[green]promoted[/]" if report["promoted"] else "[yellow]not promoted[/]"
    out.print(f"{verdict}: {', '.join(report['verdicts'])}")
    out.print(f"rule: {report['rule']}")
    if report.get("installed"):
        out.print(f"current model: {report['candidate']} ({escape(report['installed'])})")
    out.print(f"report: {escape(report['report'])}")


@model_app.command("status")
def model_status(
    reviewed_dir: Annotated[Path | None, typer.Option(help="reviewed-crop store (default PINDAI_REVIEWED_DIR)")]
    = None,
    models_dir: Annotated[Path | None, typer.Option(help="model store (default PINDAI_MODELS_DIR)")] = None,
) -> None:
    """The model the reader uses, the reviewed-crop store's size and the last update's outcome."""
    from extract.model_store import current_model, last_report, versions
    from extract.process import default_reader
    from load.reviewed_store import summary
    from schemas.settings import Settings

    learn = Settings.from_env().learn
    mdir, rdir = str(models_dir or learn.models_dir), str(reviewed_dir or learn.reviewed_dir)
    files = current_model(mdir)
    reader = default_reader(mdir)
    where = f"promoted, {files.onnx.parent}" if files else "packaged (no promoted model)"
    out.print(f"current model: {reader.version} ({escape(where)})")
    out.print(f"model store: {escape(mdir)} ({len(versions(mdir))} promoted version(s))")
    s = summary(rdir)
    out.print(f"reviewed crops: {s['boxes']} box(es) from {s['forms']} form(s), {s['held_out_boxes']} box(es) of "
              f"{s['held_out_forms']} form(s) held out; {s['corrected_boxes']} from corrections "
              f"({escape(rdir)})")
    last = last_report(mdir)
    if last is None:
        out.print("last update: none")
    else:
        path, rep = last
        out.print(f"last update: {rep.get('at')} candidate {rep.get('candidate')} "
                  f"{'promoted' if rep.get('promoted') else 'not promoted'} ({', '.join(rep.get('verdicts', []))}); "
                  f"report {escape(str(path))}")


@app.command("eval")
def eval_cmd(
    release: Annotated[Path, typer.Argument(help="a release folder, or a releases folder (its latest)")],
    truth: Annotated[Path, typer.Argument(help="the generator's truth.jsonl for the batch that was read")],
    out_dir: Annotated[Path | None, typer.Option("--out", help="write eval.json, eval.txt and the confusion PNG")]
    = None,
    auto_verify_min_p: Annotated[float | None, typer.Option(
        "--auto-verify-min-p", min=0.0, max=1.0,
        help="what-if: judge the forms again with this probability floor for automatic corrections "
             "resting on one equation (the release is not changed)")] = None,
    pinned_min_p: Annotated[float | None, typer.Option(
        "--pinned-min-p", min=0.0, max=1.0,
        help="what-if: ... and this floor for corrections implied by two or more equations")] = None,
) -> None:
    """Compare a release with the truth of a generated batch: digit and field accuracy, form outcomes
    (verified and WRONG = silent error), injected mistakes caught, by quality and form type.
    Exits 1 when any form was verified with a wrong number.

    With --auto-verify-min-p / --pinned-min-p, the same readings are judged again under that
    verification policy first: how many more forms it would verify, and at what cost in silent
    errors (transform.validate.ValidationSettings holds the defaults and why)."""
    from load.catalogue import resolve
    from load.evaluate import evaluate_release, format_report, save_report

    if not truth.is_file():
        console.print(f"[red]error:[/] {truth} does not exist")
        raise typer.Exit(EXIT_INPUT)
    rejudge = None
    if auto_verify_min_p is not None or pinned_min_p is not None:
        from dataclasses import replace

        from schemas.reasons import Status
        from schemas.records import FormRecord
        from transform.validate import ValidationSettings, judge

        policy = ValidationSettings()
        if auto_verify_min_p is not None:
            policy = replace(policy, auto_verify_min_p=auto_verify_min_p)
        if pinned_min_p is not None:
            policy = replace(policy, auto_verify_pinned_min_p=pinned_min_p)
        console.print(f"judging again: auto_verify_min_p={policy.auto_verify_min_p}, "
                      f"auto_verify_pinned_min_p={policy.auto_verify_pinned_min_p}")

        def rejudge(record: FormRecord) -> FormRecord:
            # Rejected and failed forms have no readings to judge again.
            if record.status not in (Status.VERIFIED, Status.NEEDS_REVIEW):
                return record
            return judge(record, policy)
    try:
        report = evaluate_release(resolve(release), truth, rejudge=rejudge)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_INPUT) from exc
    out.print(format_report(report), markup=False, highlight=False)
    if out_dir:
        paths = save_report(report, out_dir)
        out.print(f"written: {', '.join(str(p) for p in paths.values())}")
    if report.silent_error_count:
        raise typer.Exit(1)  # a wrong number published as verified: the one outcome that must never happen


@app.command("rerun-failed")
def rerun_failed_cmd(
    releases: Annotated[Path, typer.Argument(help="releases folder")] = Path("releases"),
    input_dir: Annotated[Path | None, typer.Option(help="the batch folder (default: the one the last run read)")]
    = None,
    workers: Annotated[int, typer.Option(help="worker processes")] = 0,
    register: Annotated[Path | None, typer.Option(
        help="TPS register (default: the one the latest release was made with)")] = None,
) -> None:
    """Read again the files that failed in the last run (everything else is reused); the new
    release keeps the latest one's corrections and register. Nothing failed: nothing is published."""
    from flows.maintenance import rerun_failed

    releases, input_dir = _abs(releases), _abs(input_dir) if input_dir else None
    register = _check_register(register)  # an unusable register: one line before any reading
    t0 = time.perf_counter()
    try:
        res = rerun_failed(str(releases), str(input_dir) if input_dir else None, workers or None,
                           str(register) if register else None)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_INPUT) from exc
    if not res["published"]:
        out.print(f"nothing failed in {escape(Path(res['release']).name)}: nothing to read again; "
                  "no release published, latest unchanged (new files are read by `pindai run`)")
        return
    _print_summary(Path(res["release"]), time.perf_counter() - t0)


@app.command()
def serve() -> None:
    """Register pindai's flows with the Prefect server in PREFECT_API_URL and serve them (start
    batches from the Prefect UI). Runs until stopped with Ctrl-C."""
    import os

    if not os.environ.get("PREFECT_API_URL"):
        console.print("[red]error:[/] set PREFECT_API_URL to a running server (e.g. `make ui`, then "
                      "export PREFECT_API_URL=http://127.0.0.1:4200/api)")
        raise typer.Exit(EXIT_USAGE)
    from flows.serve import serve as serve_flows

    def ready(n: int) -> None:
        out.print(f"pindai serve: {n} deployments registered with {escape(os.environ['PREFECT_API_URL'])}; "
                  f"SIGTERM or Ctrl+C stops", highlight=False)
        sys.stdout.flush()

    serve_flows(ready=ready)  # returns once stopped by SIGTERM or SIGINT (within seconds)
    console.print("pindai serve stopped")


release_app = typer.Typer(no_args_is_help=True, help="Inspect published releases.")
app.add_typer(release_app, name="release")


@release_app.command("verify")
def release_verify(
    release_dir: Annotated[Path, typer.Argument(help="a release folder (or the releases folder's 'latest')")],
) -> None:
    """Check every file of a release against its manifest (checksums, sizes, rows, missing, unexpected)."""
    from load.verify import verify_release

    report = verify_release(release_dir)
    for p in report.problems:
        out.print(f"  [red]{p.kind}[/] {p.path}: {p.detail}")
    if not report.ok:
        out.print(f"[red]release {release_dir} FAILED verification[/] ({len(report.problems)} problem(s))")
        raise typer.Exit(EXIT_VERIFY)
    out.print(f"release {release_dir} verified: {report.files_checked} files match the manifest")


forms_app = typer.Typer(no_args_is_help=True, help="Form types as data: layouts from official templates.")
app.add_typer(forms_app, name="forms")


@forms_app.command("measure")
def forms_measure(
    template: Annotated[Path, typer.Argument(help="an official form template (PDF)")],
    page: Annotated[int, typer.Option(help="the page to measure (1-based)")] = 1,
    out_file: Annotated[Path | None, typer.Option("--out", help="write the JSON here (default: stdout)")] = None,
    dpi: Annotated[float, typer.Option(min=72, max=600, help="rendering resolution; 144 = half a point a pixel")]
    = 144.0,
    lines: Annotated[bool, typer.Option("--lines", help="also every printed rule and dotted write-on line "
                                        "(rendering only: a start for drawing a look-alike)")] = False,
) -> None:
    """Measure a template page: digit boxes (printed squares or ruled cells), bubbles, AprilTag,
    corner marks (or the table frame and rules) in PDF points; writes the layout part of a form
    definition with fields named by position (row03_group1) for a person to name."""
    from extract.template_measure import MeasureError, measure_page

    try:
        measured = measure_page(template, page, dpi, lines=lines)
    except MeasureError as exc:
        console.print(f"[red]error:[/] {exc.problem.value}: {escape(exc.detail)}")
        raise typer.Exit(EXIT_INPUT) from exc
    import json

    text = json.dumps(measured.layout, indent=1, ensure_ascii=False) + "\n"
    if out_file is None:
        sys.stdout.write(text)
        return
    try:
        out_file.write_text(text, encoding="utf-8")
    except OSError as exc:
        console.print(f"[red]error:[/] could not write {escape(str(out_file))}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_WRITE) from exc
    lay = measured.layout
    tag = f"tag {lay['tag']['id']}" if lay["tag"] else "no tag"
    reg = f"{len(lay['marks'])} marks" + (", a table frame" if lay.get("frame") else "")
    out.print(f"measured {escape(template.name)} page {page}: {len(lay['fields'])} fields, "
              f"{len(measured.boxes)} boxes, {tag}, {reg} -> {escape(str(out_file))}")


@app.command("report")
def report_cmd(
    release: Annotated[Path, typer.Argument(help="a release folder, or a releases folder (its 'latest')")],
    out_dir: Annotated[Path, typer.Option("--out", help="folder to write index.html into")] = Path("report"),
    review_url: Annotated[str, typer.Option(help="the review app: screens link to REVIEW_URL/forms/<code>")]
    = "http://127.0.0.1:8700",
) -> None:
    """Write a self-contained HTML results report of a release: votes per pair per province and
    kab/kota (verified / needs review / missing), coverage, D.Hasil against its C.Hasil, and the
    analysts' screens (turnout over DPT, outliers, last digits, round totals, 100% pairs). Changes
    no status."""
    from load.catalogue import resolve
    from load.report import write_report

    t0 = time.perf_counter()
    try:
        path = write_report(resolve(release), out_dir, review_url)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(EXIT_INPUT) from exc
    except OSError as exc:
        console.print(f"[red]error:[/] could not write the report: {exc}")
        raise typer.Exit(EXIT_WRITE) from exc
    out.print(f"report written: {escape(str(path))} ({time.perf_counter() - t0:.1f} s)")


@app.command()
def status(
    releases_dir: Annotated[Path, typer.Argument(help="releases folder (or one release)")] = Path("releases"),
) -> None:
    """What the last run did: counts per province and kab/kota, and every failure with its reason."""
    from load.catalogue import open_release

    try:
        rel = open_release(releases_dir)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/] no release found under {escape(str(releases_dir))} ({escape(str(exc))})")
        raise typer.Exit(EXIT_INPUT) from exc
    files = [f.model_dump(mode="json") for f in rel.run.files]
    lin = rel.manifest.lineage
    table = Table(title=f"release {rel.id} ({len(files)} files)")
    cols = ["verified", "needs_review", "rejected", "failed"]
    for c in ["province", "kab/kota", "files", *cols]:
        table.add_column(c, justify="right" if c not in ("province", "kab/kota") else "left")
    groups: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for f in files:
        code = f.get("region_code") or ""
        groups[(code[:2] or "?", code[:4] or "?")][f["status"]] += 1
    for (prov, kab), c in sorted(groups.items()):
        table.add_row(prov, kab, str(sum(c.values())), *[str(c.get(k, 0)) for k in cols])
    total = Counter(f["status"] for f in files)
    table.add_row("all", "", str(len(files)), *[str(total.get(k, 0)) for k in cols], style="bold")
    out.print(table)
    bad = [f for f in files if f["status"] in ("rejected", "failed")]
    for f in bad:
        # escape: a file named "[/].jpg" is data, not console markup
        out.print(f"  {f['status']:<9} {escape(f['file'])}: {', '.join(f['reasons'])} - {escape(f['detail'])}")
    if lin is not None:
        reg = lin.tps_register
        out.print(f"made by {lin.command} from {lin.base_release or '(first release)'}; register "
                  f"{escape(reg.source or '?') if reg else 'none'}; corrections in force {lin.corrections.entries} "
                  f"(+{lin.corrections.added}); model {escape(lin.model_version)}")


def _print_summary(release: Path, seconds: float) -> None:
    from load.catalogue import open_release

    info = open_release(release).run.model_dump(mode="json")
    s = info["summary"]
    fs = s["forms_by_status"]
    files = s["files_by_status"]
    out.print(f"[bold]pindai run[/] finished in {seconds:.1f} s")
    out.print(f"  files:  {s['files']}  (verified {files.get('verified', 0)}, needs review "
              f"{files.get('needs_review', 0)}, rejected {files.get('rejected', 0)}, "
              f"failed {files.get('failed', 0)})")
    out.print(f"  forms read: {s['forms']}  verified {fs.get('verified', 0)}, flagged for review "
              f"{fs.get('needs_review', 0)}")
    if s["files"] and not s["forms"]:  # published for the accounting, but nothing in it was read
        out.print(f"  [yellow]warning:[/] no form could be read: all {s['files']} file(s) rejected or failed "
                  f"(reasons: pindai status {escape(str(release.parent))})")
    for w in info.get("warnings") or []:  # batch-level problems, e.g. a malformed manifest.csv
        out.print(f"  [yellow]warning:[/] {escape(w)}")
    if s["ignored_files"]:
        out.print(f"  ignored (not a scan): {len(s['ignored_files'])} file(s)")
    out.print(f"  release: {escape(str(release))}")
    out.print(f"  details: pindai status {escape(str(release.parent))}")


class _progress:
    def __init__(self, what: str) -> None:
        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn(), console=console, transient=False,
                            disable=not sys.stderr.isatty())
        self.what = what

    def __enter__(self):  # noqa: ANN204
        self.bar.__enter__()
        return self.bar, self.bar.add_task(self.what, total=None)

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)


def _known_error(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one line) for an error the operator can act on; None for a bug."""
    from schemas.errors import EmptyBatch, PindaiError
    from transform.corrections import CorrectionsError

    if isinstance(exc, EmptyBatch):
        return EXIT_EMPTY, str(exc)
    if isinstance(exc, CorrectionsError):
        return EXIT_USAGE, _corrections_line(exc)
    if isinstance(exc, PindaiError):
        return EXIT_INPUT, str(exc)
    if isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError | IsADirectoryError):
        return EXIT_INPUT, str(exc)
    from load.release import CarryOverError

    if isinstance(exc, CarryOverError):
        return EXIT_WRITE, str(exc)
    return None


def _corrections_line(exc: Exception) -> str:
    """A refused corrections CSV in one line: every bad row, separated by '; '."""
    problems = getattr(exc, "problems", [str(exc)])
    return f"{getattr(exc, 'path', '')}: {len(problems)} problem(s), nothing applied: " + "; ".join(problems)


def _quiet_prefect() -> None:
    """Keep Prefect's tracebacks and exit chatter off the operator's terminal: the CLI prints one
    line per error. The Prefect server, when there is one, still gets every record in the run's logs."""
    import logging

    def no_errors(record: logging.LogRecord) -> bool:  # each of Prefect's error records is a traceback
        return record.levelno < logging.ERROR

    def no_draining(record: logging.LogRecord) -> bool:  # "Still processing items" while exiting
        return not record.getMessage().startswith("Still processing items")

    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logging.getLogger(name).addFilter(no_errors)
    for name in ("EventsWorker", "APILogWorker"):
        logging.getLogger(name).addFilter(no_draining)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: one line and a stable exit code for every known error; for anything else one
    line and exit 70. ``--debug`` shows the tracebacks."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if not debug:
        _quiet_prefect()
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="pindai", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        if debug:
            import traceback

            traceback.print_exc()
        known = _known_error(exc)
        code, line = known if known else (EXIT_INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
        hint = "" if debug or known else " (run again with --debug for the traceback)"
        console.print(f"[red]error:[/] {escape(' '.join(line.split()))}{hint}")
        sys.exit(code)


if __name__ == "__main__":  # `python -m flows.cli` (tests run the CLI this way)
    main()
