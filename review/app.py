"""The review web app (FastAPI, server-rendered pages, a little vanilla JavaScript, no build step).

Every page and API call needs a session (pages redirect to /login, API calls answer 401); every POST
needs the session's CSRF token; publishing and second opinions need a supervisor (403). Crops are
served by item id only (``review.crops``).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from review import auth, db, service
from review.crops import CropStore
from review.publish import publish_from_db
from review.queue import sync_release

HERE = Path(__file__).parent
COOKIE = "pindai_session"
LOGIN_COOKIE = "pindai_login"
_CROP = re.compile(r"^(\d{1,12})(-bubbles)?\.png$")
_CSP = ("default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


@dataclass
class AppConfig:
    releases_dir: Path
    db_url: str
    lease_minutes: float = service.LEASE_MINUTES
    secure_cookies: bool = False  # behind HTTPS: mark cookies Secure
    register_file: str | None = None


class NoSession(Exception):
    pass


def create_app(cfg: AppConfig, engine: Engine | None = None) -> FastAPI:
    from load.catalogue import resolve

    engine = engine or db.connect(cfg.db_url)
    releases_dir = Path(cfg.releases_dir).resolve()
    with engine.begin() as conn:
        try:
            sync_release(conn, resolve(releases_dir))
        except FileNotFoundError:
            pass  # no release yet: an empty queue
    crops = CropStore(engine, releases_dir)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app = FastAPI(title="pindai review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine, app.state.cfg = engine, cfg
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next):  # noqa: ANN001, ANN202
        t0 = time.perf_counter()
        path = request.url.path
        # Every path but the sign-in page and the static files needs a session, checked here before
        # any routing or parameter parsing, so a route added later cannot forget it.
        if path != "/login" and not path.startswith("/static/"):
            request.state.user = await run_in_threadpool(auth.session_user, engine, request.cookies.get(COOKIE))
            if request.state.user is None:
                resp = await no_session(request, NoSession())
                resp.headers["Content-Security-Policy"] = _CSP
                return resp
        resp = await call_next(request)
        # the server's own time for the request (review.bench reads it; browsers show it in dev tools)
        resp.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - t0) * 1000:.2f}"
        resp.headers["Content-Security-Policy"] = _CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        if not request.url.path.startswith("/static"):
            resp.headers["Cache-Control"] = "no-store" if not request.url.path.startswith("/crop/") else \
                "private, max-age=3600"
        return resp

    @app.exception_handler(NoSession)
    async def no_session(request: Request, _exc: NoSession) -> Response:
        if request.url.path.startswith(("/api/", "/crop/")) or request.method != "GET":
            return JSONResponse({"error": "sign in first"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(service.ReviewError)
    async def refused(request: Request, exc: service.ReviewError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return HTMLResponse(templates.get_template("error.html").render(message=exc.message, status=exc.status),
                            status_code=exc.status)

    def user_of(request: Request) -> auth.User:
        u = getattr(request.state, "user", None)  # set by the middleware above
        if u is None:
            raise NoSession()
        return u

    async def posted(request: Request) -> tuple[auth.User, dict]:
        """The user and the body of a POST, after the CSRF check (header or form field)."""
        u = user_of(request)
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise service.BadValue("the request body must be a JSON object")
        else:
            body = dict(await request.form())
        if not auth.csrf_ok(u, request.headers.get("x-csrf-token") or body.get("csrf")):
            raise service.Forbidden("missing or wrong CSRF token; reload the page")
        return u, body

    def page(request: Request, name: str, user: auth.User | None, **ctx) -> HTMLResponse:  # noqa: ANN003
        return templates.TemplateResponse(request, name, {"user": user, **ctx})

    # ------------------------------------------------------------------ sign in / out
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        # Keep the token of an earlier visit: a second GET (another tab, the browser's favicon
        # request redirected here) must not invalidate the form already on screen.
        token = request.cookies.get(LOGIN_COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
            token = secrets.token_urlsafe(24)
        resp = page(request, "login.html", None, csrf=token, error=None)
        resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=cfg.secure_cookies,
                        max_age=3600)
        return resp

    @app.post("/login")
    async def login_post(request: Request) -> Response:
        form = dict(await request.form())
        pre = request.cookies.get(LOGIN_COOKIE, "")
        if not pre or not secrets.compare_digest(pre, str(form.get("csrf", ""))):
            return JSONResponse({"error": "missing or wrong CSRF token; reload the page"}, status_code=403)
        token = auth.login(engine, str(form.get("name", ""))[:100], str(form.get("password", ""))[:1000])
        if token is None:
            resp = page(request, "login.html", None, csrf=pre, error="Wrong name or password.")
            resp.status_code = 401
            return resp
        resp = RedirectResponse("/", status_code=303)
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=cfg.secure_cookies,
                        max_age=auth.SESSION_HOURS * 3600)
        resp.delete_cookie(LOGIN_COOKIE)
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        u, _ = await posted(request)
        service.release_leases(engine, u)
        auth.logout(engine, request.cookies.get(COOKIE))
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(COOKIE)
        return resp

    # ------------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse)
    def queue_page(request: Request, msg: str = "") -> Response:
        u = user_of(request)
        return page(request, "queue.html", u, stats=service.stats(engine), forms=service.form_summary(engine),
                    recent=service.recent_decisions(engine, 25), msg=msg[:200])

    @app.get("/work", response_class=HTMLResponse)
    def work_page(request: Request) -> Response:
        u = user_of(request)
        return page(request, "work.html", u, stats=service.stats(engine), lease=cfg.lease_minutes)

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request) -> Response:
        u = user_of(request)
        if not u.supervisor:
            raise service.Forbidden("only a supervisor reads the audit trail")
        return page(request, "audit.html", u, entries=service.audit_log(engine, 300))

    # ------------------------------------------------------------------ API
    @app.get("/api/next")
    def api_next(request: Request, limit: int = 3) -> Response:
        u = user_of(request)
        return JSONResponse({"tasks": service.next_tasks(engine, u, limit, cfg.lease_minutes)})

    @app.post("/api/decide")
    async def api_decide(request: Request) -> Response:
        u, body = await posted(request)
        res = service.decide(engine, u, body.get("task_id"), str(body.get("action", "")), body.get("value"),
                             cfg.lease_minutes)
        return JSONResponse(res)

    @app.post("/api/skip")
    async def api_skip(request: Request) -> Response:
        u, body = await posted(request)
        try:
            task_id = int(body.get("task_id"))
        except (TypeError, ValueError):
            raise service.NotFound("no such field") from None
        service.skip(engine, u, task_id)
        return JSONResponse({"skipped": task_id})

    @app.post("/api/second")
    async def api_second(request: Request) -> Response:
        u, body = await posted(request)
        try:
            item_id = int(body.get("item_id"))
        except (TypeError, ValueError):
            raise service.NotFound("no such field") from None
        return JSONResponse(service.mark_second_opinion(engine, u, item_id))

    @app.post("/api/publish")
    async def api_publish(request: Request) -> Response:
        u, _ = await posted(request)
        if not u.supervisor:
            raise service.Forbidden("only a supervisor publishes")
        return JSONResponse(await run_in_threadpool(publish_from_db, engine, releases_dir, u, cfg.register_file))

    @app.post("/publish")
    async def publish_form(request: Request) -> Response:
        u, _ = await posted(request)
        if not u.supervisor:
            raise service.Forbidden("only a supervisor publishes")
        res = await run_in_threadpool(publish_from_db, engine, releases_dir, u, cfg.register_file)
        return RedirectResponse(f"/?msg=published+{res['decisions']}+decisions+as+release+{res['release']}",
                                status_code=303)

    @app.post("/second")
    async def second_form(request: Request) -> Response:
        u, body = await posted(request)
        try:
            item_id = int(body.get("item_id", ""))
        except (TypeError, ValueError):
            raise service.NotFound("no such field") from None
        service.mark_second_opinion(engine, u, item_id)
        return RedirectResponse("/?msg=second+opinion+requested", status_code=303)

    @app.get("/api/stats")
    def api_stats(request: Request) -> Response:
        user_of(request)
        return JSONResponse(service.stats(engine))

    @app.get("/crop/{name}")
    def crop(request: Request, name: str) -> Response:
        user_of(request)
        m = _CROP.match(name)
        if m is None:
            return JSONResponse({"error": "no such crop"}, status_code=404)
        data = crops.get(int(m.group(1)), bubbles=bool(m.group(2)))
        if data is None:
            return JSONResponse({"error": "no crop for this field"}, status_code=404)
        return Response(data, media_type="image/png")

    return app


def serve(cfg: AppConfig, host: str = "127.0.0.1", port: int = 8700) -> None:
    import uvicorn

    uvicorn.run(create_app(cfg), host=host, port=port, log_level="warning", access_log=False)
