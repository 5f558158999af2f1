"""Fault injection: make the sandbox fail the way networks and servers do, per route and method.

A fault is written as one line, for `sandbox serve --fault`, `$CAPAWESOME_SANDBOX_FAULTS` (several
separated by `;`) or `sandbox.faults.add(parse_fault(...))`:

    [METHOD] [PATH] KIND [times=N] [retry-after=S|HTTP-date] [after]

METHOD is GET, POST, … or `*`; PATH an fnmatch pattern (`/v1/jobs/*`, `*/download`); KIND one of
    503                  answer with this status (any 4xx/5xx), the API's JSON error body
    html=502             a gateway's HTML error page with that status
    latency=1.5          wait that many seconds, then answer normally
    reset                close the connection without answering
    reset-mid-body=1024  send the headers and that many body bytes, then close the connection
    truncated-json       cut a JSON answer in half
    malformed-json       answer 200 with a body that is not JSON
`times=N` limits it to the next N matching requests (default 1; 0 = every one). `after` lets the
request take effect first (the mutation happened, the answer was lost): the case that must never
make a client repeat a POST.
"""

from __future__ import annotations

import fnmatch
import re
import threading
from dataclasses import dataclass

from capawesome_ci.sandbox.server import Response

KINDS = ("status", "html", "latency", "reset", "reset-mid-body", "truncated-json", "malformed-json")
# Kinds that change a real answer, so the request is always processed first.
AFTER_KINDS = ("reset-mid-body", "truncated-json", "malformed-json")
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "*")


@dataclass
class Fault:
    kind: str
    method: str = "*"
    path: str = "*"
    status: int = 503
    seconds: float = 0.0
    after_bytes: int = 0
    retry_after: str | None = None
    times: int = 1  # 0: every matching request
    after: bool = False
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method) and fnmatch.fnmatchcase(path, self.path)

    @property
    def processes_first(self) -> bool:
        return self.after or self.kind in AFTER_KINDS


def parse_fault(spec: str) -> Fault:
    """`POST /v1/apps/*/builds 502 after` → Fault(kind="status", method="POST", …). ValueError if bad."""
    words = spec.split()
    if not words:
        raise ValueError("empty fault")
    fault = Fault(kind="")
    if words[0].upper() in _HTTP_METHODS:
        fault.method = words.pop(0).upper()
    if words and (words[0].startswith("/") or words[0].startswith("*")):
        fault.path = words.pop(0)
    if not words:
        raise ValueError(f"fault {spec!r} names no kind (e.g. 503, reset, latency=1)")
    kind, _, argument = words.pop(0).partition("=")
    if re.fullmatch(r"[45]\d\d", kind):
        fault.kind, fault.status = "status", int(kind)
    elif kind in KINDS:
        fault.kind = kind
        try:
            if kind == "html":
                fault.status = int(argument or "502")
            elif kind == "latency":
                fault.seconds = float(argument)
            elif kind == "reset-mid-body":
                fault.after_bytes = int(argument or "0")
        except ValueError:
            raise ValueError(f"fault {spec!r}: {kind} needs a number") from None
    else:
        raise ValueError(f"fault {spec!r}: unknown kind {kind!r}; expected a status or one of {', '.join(KINDS[1:])}")
    for option in words:
        key, _, value = option.partition("=")
        if key == "times" and value.isdigit():
            fault.times = int(value)
        elif key == "retry-after" and value:
            fault.retry_after = value
        elif key == "after" and not value:
            fault.after = True
        else:
            raise ValueError(f"fault {spec!r}: unknown option {option!r}")
    return fault


def parse_faults(text: str) -> list[Fault]:
    return [parse_fault(part) for part in text.split(";") if part.strip()]


class Faults:
    """The active faults; the first matching one with uses left applies to a request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault | str) -> Fault:
        fault = parse_fault(fault) if isinstance(fault, str) else fault
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if (fault.times == 0 or fault.hits < fault.times) and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None


def apply_fault(fault: Fault, response: Response | None) -> Response:
    """The answer a fault gives; `response` is the real one when the request was processed first."""
    if fault.kind == "reset":
        return Response(abort=True)
    if fault.kind == "reset-mid-body" and response is not None:
        response.abort_after = fault.after_bytes
        return response
    if fault.kind == "truncated-json" and response is not None:
        raw = response.encode().raw or b"{}"
        return Response(response.status, headers=dict(response.headers), raw=raw[: max(1, len(raw) // 2)])
    if fault.kind == "malformed-json":
        return Response(200, headers={"Content-Type": "application/json"}, raw=b"{'not': json,")
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
    if fault.kind == "html":
        page = f"<html><body><h1>{fault.status} Bad Gateway</h1><p>nginx</p></body></html>".encode()
        return Response(fault.status, headers={"Content-Type": "text/html", **headers}, raw=page)
    message = {429: "Too many requests.", 500: "Internal server error.", 502: "Bad gateway."}
    body = {"message": message.get(fault.status, f"HTTP {fault.status}")}
    return Response(fault.status, body, headers).encode()


def checked_fault_specs(given: list[str], environ: dict[str, str], variable: str) -> tuple[str, ...]:
    """--fault values and $<variable> (separated by ;), each checked: one line and exit 2 for a bad one."""
    from capawesome_ci.errors import InputError

    specs = tuple(spec for spec in (*given, *environ.get(variable, "").split(";")) if spec.strip())
    for spec in specs:
        try:
            parse_fault(spec)
        except ValueError as error:
            raise InputError(f"invalid --fault (or {variable}): {error}") from None
    return specs
