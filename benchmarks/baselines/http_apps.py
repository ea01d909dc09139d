"""Hand-written refresh endpoints: RFC 6749 §6 in one FastAPI route and one Flask view."""

from __future__ import annotations

from typing import Any

from .service import RefusedError
from .tokens import ACCESS_TTL

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _body(access: str, refresh: str) -> dict[str, Any]:
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TTL,
        "refresh_token": refresh,
    }


def baseline_fastapi(auth: Any) -> Any:
    from fastapi import FastAPI, Form
    from fastapi.responses import JSONResponse

    app = FastAPI()

    @app.post("/token/refresh")
    async def refresh(grant_type: str = Form(), refresh_token: str = Form()) -> JSONResponse:
        if grant_type != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type"}, 400, NO_STORE)
        try:
            access, refreshed = await auth.refresh(refresh_token)
        except (RefusedError, ValueError):
            return JSONResponse({"error": "invalid_grant"}, 400, NO_STORE)
        return JSONResponse(_body(access, refreshed), headers=NO_STORE)

    return app


def baseline_flask(auth: Any) -> Any:
    from flask import Flask, jsonify, request

    app = Flask("baseline")

    @app.post("/token/refresh")
    def refresh() -> Any:
        if request.form.get("grant_type") != "refresh_token":
            return jsonify(error="unsupported_grant_type"), 400, NO_STORE
        try:
            access, refreshed = auth.refresh(request.form.get("refresh_token", ""))
        except (RefusedError, ValueError):
            return jsonify(error="invalid_grant"), 400, NO_STORE
        return jsonify(_body(access, refreshed)), 200, NO_STORE

    return app
