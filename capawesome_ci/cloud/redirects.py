"""Which redirects an API call follows: a GET's or HEAD's, within the API's own origin, a bounded
number of times. The token is only ever sent to the origin it was given for; a change (POST,
PATCH, PUT, DELETE) is never re-sent elsewhere, because the server may have acted on it already.
Anything not followed comes back as the 3xx itself, and cloud/errors.py says what happened.
(Artifact downloads additionally follow cross-origin hops to storage through httpx, which drops
the Authorization header on them.)"""

from __future__ import annotations

import httpx

from capawesome_ci.cloud.methods import FOLLOWED_METHODS as FOLLOWED_METHODS  # cloud/errors.py reads it here

MAX_REDIRECTS = 5


def redirect_target(response: httpx.Response) -> httpx.URL | None:
    """Where a 3xx points, or None when it has no usable Location."""
    if not 300 <= response.status_code < 400 or "Location" not in response.headers:
        return None
    try:
        target = response.request.url.join(response.headers["Location"])
    except (httpx.InvalidURL, ValueError):
        return None
    return target if target.scheme in ("http", "https") and target.host else None


def same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    return (a.scheme, a.host, a.port) == (b.scheme, b.host, b.port)


class SameOriginRedirects(httpx.BaseTransport):
    def __init__(self, inner: httpx.BaseTransport, max_redirects: int = MAX_REDIRECTS) -> None:
        self._inner = inner
        self._max = max_redirects

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self._inner.handle_request(request)
        for _ in range(self._max):
            response.request = request
            target = redirect_target(response)
            if request.method not in FOLLOWED_METHODS or target is None or not same_origin(target, request.url):
                break
            response.close()
            request = httpx.Request(request.method, target, headers=request.headers, extensions=request.extensions)
            response = self._inner.handle_request(request)
        return response

    def close(self) -> None:
        self._inner.close()
