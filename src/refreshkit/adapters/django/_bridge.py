"""Django requests into the shared flows, their answers back into Django responses.

The views, the decorator and the middleware all go through here, so each
of them is only a driver of :mod:`refreshkit.adapters._flows`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from .. import _flows, _http
from . import conf


def render(response: _http.HttpResponse) -> HttpResponse:
    """A Django response for a framework-neutral one; cookies go through ``set_cookie``."""
    if response.body is None:
        rendered = HttpResponse(status=response.status)
        del rendered["Content-Type"]
    elif isinstance(response.body, bytes):
        rendered = HttpResponse(
            response.body, status=response.status, content_type=response.media_type
        )
    else:
        content = json.dumps(response.body).encode("utf-8")
        rendered = HttpResponse(content, status=response.status, content_type="application/json")
    for name, value in response.headers:
        rendered[name] = value
    for cookie in response.cookies:
        rendered.set_cookie(
            cookie.name,
            cookie.value,
            max_age=cookie.max_age,
            path=cookie.path,
            domain=cookie.domain,
            secure=cookie.secure,
            httponly=cookie.http_only,
            samesite=cast(Any, cookie.samesite.capitalize()),
        )
    return rendered


def neutral(
    request: HttpRequest,
    body: bytes = b"",
    refusal: _http.BadRequestError | None = None,
    path_params: Mapping[str, str] | None = None,
) -> _flows.HttpRequest:
    """The flows' view of a Django request (the body, when read, passed in).

    The scheme is Django's ``request.scheme``, so ``SECURE_PROXY_SSL_HEADER``,
    when the project sets it, counts as the server's own word.
    """
    return _flows.HttpRequest(
        method=request.method or "GET",
        scheme=request.scheme or "http",
        peer=request.META.get("REMOTE_ADDR"),
        headers=tuple(request.headers.items()),
        cookies=request.COOKIES,
        body=body,
        content_type=request.META.get("CONTENT_TYPE"),
        body_refusal=refusal,
        path_params=dict(path_params or {}),
    )


def with_body(request: HttpRequest, path_params: Mapping[str, str]) -> _flows.HttpRequest:
    """A token endpoint's request with its body, read no further than the size cap."""
    try:
        body = _http.CappedBody(request.META.get("CONTENT_LENGTH"))
        while chunk := request.read(body.read_size()):
            body.feed(chunk)
    except _http.BadRequestError as refusal:
        return neutral(request, refusal=refusal, path_params=path_params)
    return neutral(request, body.value(), path_params=path_params)


def context(manager: Any) -> _flows.FlowContext:
    """The flows' context for ``manager``, with the ``django_realm`` option."""
    return _flows.FlowContext.of(manager, conf.get_option("django_realm"))


def online(requested: bool | None = None) -> bool:
    """Whether to check revocation in the store: ``requested``, else ``django_online``."""
    return bool(conf.get_option("django_online")) if requested is None else requested


def device(request: HttpRequest) -> str | None:
    """The request's device identifier from the ``django_device`` option (None without)."""
    option = conf.get_option("django_device")
    if option is None:
        return None
    resolver: Callable[[HttpRequest], str | None] = (
        import_string(option) if isinstance(option, str) else option
    )
    return resolver(request)
