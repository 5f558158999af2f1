"""One API answer at a time: send a request through the shared client, get a usable answer or the
mapped error. Adapters and the bundle upload build on it, so every answer is read one way."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from capawesome_ci.cloud.answers import Record, list_answer, object_answer, unusable
from capawesome_ci.cloud.errors import MessageOf, StatusErrors, map_transport_error, raise_for_response
from capawesome_ci.cloud.paths import wire_path

PAGE_SIZE = 100  # what the official SDK asked for
MAX_PAGES = 100


class Api:
    def __init__(
        self, http: httpx.Client, message_of: MessageOf | None = None, status_errors: StatusErrors | None = None
    ) -> None:
        self.http = http
        # How this platform's error bodies say what went wrong (default: Capawesome's, cloud/errors.py).
        self.message_of = message_of
        # Statuses this platform gives a meaning of its own (default: none).
        self.status_errors = status_errors

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; a 2xx answer (body read) or the mapped error."""
        response = self.send(method, path, **kwargs)
        raise_for_response(response, self.message_of, self.status_errors)
        return response

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request; its answer (body read) whatever the status, or the mapped transport error."""
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.DecodingError:  # a Content-Encoding the body does not match: the answer, not the link
            where = wire_path(self.http.build_request(method, path).url)
            raise unusable(method, where, "a body that does not match its Content-Encoding") from None
        except httpx.TransportError as error:
            raise map_transport_error(error, self.http.build_request(method, path)) from None

    def object(self, method: str, path: str, *, empty: bool = False, **kwargs: Any) -> Record:
        return object_answer(self.request(method, path, **kwargs), empty=empty)

    def first(self, path: str, key: str, value: str, **params: Any) -> Record | None:
        """The item whose `key` is exactly `value` from a filtered list (limit 1), or None.
        Another item means the server ignored the filter: acting on it could hit the wrong object."""
        items = list_answer(self.request("GET", path, params={**params, key: value, "limit": 1}))
        for item in items:
            if item.text(key) == value:
                return item
        if items:
            raise items[0].unusable(f"an item whose {key!r} is not the {value!r} asked for")
        return None

    def pages(self, path: str, params: dict[str, Any]) -> Iterator[Record]:
        """Every item of a paged list; bounded, so a server that ignores `offset` cannot loop us."""
        for page_number in range(MAX_PAGES):
            page = list_answer(
                self.request("GET", path, params={**params, "limit": PAGE_SIZE, "offset": page_number * PAGE_SIZE})
            )
            yield from page
            if len(page) < PAGE_SIZE:
                return
        raise unusable("GET", path, f"a list longer than {MAX_PAGES} pages")
