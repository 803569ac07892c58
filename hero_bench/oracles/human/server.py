"""The labelling web app (FastAPI + Jinja2): one page, a few JSON endpoints, all behind the run's token.

Routes (every one needs `?token=...` or an `X-Hero-Token` header):
- GET  /                    the page: the batch on offer as a grid, or a waiting screen
- GET  /image/{batch}/{i}   one image of the batch on offer (PNG)
- GET  /api/state           batch on offer, progress, success-chart points (the page polls this)
- POST /api/labels          {"batch_id", "good": [bool], "best": int|null}; 200 only once stored
- POST /api/progress        {"epoch", "feedback_used", "budget", "success_rate"}: a chart point
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from hero_bench.oracles.human.session import LabelingSession, SubmissionError

HERE = Path(__file__).parent
NO_CACHE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"}
BAD_TOKEN = (
    "missing or wrong token: open the exact URL hero-bench printed (it ends in ?token=...); "
    "a restarted run keeps its token"
)


def _token(request: Request) -> str:
    return request.query_params.get("token") or request.headers.get("x-hero-token") or ""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status, headers=NO_CACHE)


def create_app(session: LabelingSession) -> FastAPI:
    """The app for one run's session."""
    app = FastAPI(title="hero-bench labelling", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Response:
        if request.url.path.startswith("/static/"):
            return await call_next(request)
        if not secrets.compare_digest(_token(request).encode(), session.token.encode()):
            if request.url.path.startswith("/api/"):
                return _error(403, BAD_TOKEN)
            return HTMLResponse(f"<!doctype html><title>hero-bench</title><p>{BAD_TOKEN}</p>", 403, headers=NO_CACHE)
        return await call_next(request)

    @app.get("/", response_class=HTMLResponse)
    def page(request: Request) -> Response:
        batch = session.pending
        state = session.state()
        return templates.TemplateResponse(
            request, "label.html", {"batch": batch, "state": state, "token": session.token}, headers=NO_CACHE
        )

    @app.get("/image/{batch_id}/{index}.png")
    def image(batch_id: str, index: int) -> Response:
        data = session.image(batch_id, index)
        if data is None:
            return _error(404, f"no image {index} in the batch on offer ({batch_id} is done or unknown)")
        return Response(data, media_type="image/png", headers=NO_CACHE)

    @app.get("/api/state")
    def state() -> JSONResponse:
        return JSONResponse(session.state(), headers=NO_CACHE)

    @app.post("/api/labels")
    async def labels(request: Request) -> JSONResponse:
        payload = await _json_body(request)
        if isinstance(payload, JSONResponse):
            return payload
        try:
            stored = session.submit(payload)
        except SubmissionError as e:
            return _error(e.status, e.message)
        return JSONResponse({"ok": True, "batch_id": payload["batch_id"], "good": stored.good, "best": stored.best,
                             "stored_at": stored.labelled_at}, headers=NO_CACHE)

    @app.post("/api/progress")
    async def progress(request: Request) -> JSONResponse:
        payload = await _json_body(request)
        if isinstance(payload, JSONResponse):
            return payload
        try:
            point = _progress_point(payload)
        except ValueError as e:
            return _error(422, str(e))
        session.update_progress(**point)
        return JSONResponse({"ok": True}, headers=NO_CACHE)

    return app


async def _json_body(request: Request) -> Any:
    """The parsed JSON body, or a 400/415 response saying what was wrong."""
    if "json" not in request.headers.get("content-type", ""):
        return _error(415, "send the body as JSON (Content-Type: application/json)")
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return _error(400, "the body is not valid JSON")


def _progress_point(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ValueError('the body must be a JSON object {"epoch", "feedback_used", "budget", "success_rate"}')

    def integer(name: str, optional: bool = False) -> int | None:
        v = payload.get(name)
        if v is None and optional:
            return None
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ValueError(f'"{name}" must be a non-negative integer')
        return v

    rate = payload.get("success_rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1):
        raise ValueError('"success_rate" must be a number from 0 to 1 (or null)')
    return {"epoch": integer("epoch"), "feedback_used": integer("feedback_used"),
            "budget": integer("budget", optional=True), "success_rate": None if rate is None else float(rate)}
