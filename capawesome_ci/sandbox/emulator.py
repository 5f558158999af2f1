"""What every provider's emulator shares: the loopback-only HTTP server's life cycle (start, stop,
`with`), fault injection, and the log of the requests it received. A provider's emulator subclasses
`Emulator` and brings only its state (`new_state`) and its routes (`handle`)."""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from capawesome_ci.errors import ExitCode, InputError, one_line
from capawesome_ci.sandbox.faults import Faults, apply_fault
from capawesome_ci.sandbox.server import Request, Response, SandboxHTTPServer

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str
    query: str
    status: int  # 0: the connection was dropped without an answer


class EmulatorState:
    """The part of an emulator's state every provider has: the token it accepts, one lock (the HTTP
    server is threaded; handlers run with it held) and the requests received so far."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.lock = threading.RLock()
        self.requests: list[RequestRecord] = []

    def record(self, request: Request, status: int) -> None:
        with self.lock:
            self.requests.append(RequestRecord(request.method, request.path, request.query_string, status))

    def mutations(self) -> list[RequestRecord]:
        with self.lock:
            return [record for record in self.requests if record.method in MUTATING]

    def close(self) -> None:
        """Release what the state holds outside memory (temporary files); called on `stop()`."""


class EmulatorConfig(Protocol):
    """What the shared machinery reads from a provider's configuration."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def faults(self) -> tuple[str, ...]: ...  # fault specs (see faults.py), active from the start


ConfigT = TypeVar("ConfigT", bound=EmulatorConfig)
StateT = TypeVar("StateT", bound=EmulatorState)
EmulatorT = TypeVar("EmulatorT", bound="Emulator[Any, Any]")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Emulator(Generic[ConfigT, StateT]):
    """A provider's API over real HTTP on loopback. Subclasses implement `new_state` and `handle`."""

    thread_name: ClassVar[str] = "sandbox"

    def __init__(self, config: ConfigT) -> None:
        self.config = config
        if not is_loopback(self.config.host):
            raise ValueError(f"the sandbox binds loopback addresses only, not {self.config.host!r}")
        self.state: StateT = self.new_state(config)
        self.faults = Faults()
        for spec in self.config.faults:
            if spec.strip():
                self.faults.add(spec)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def new_state(self, config: ConfigT) -> StateT:
        raise NotImplementedError

    def handle(self, request: Request) -> Response:
        """The provider's answer to one request (errors included), encoded; it is logged by the caller."""
        raise NotImplementedError

    @property
    def token(self) -> str:
        return self.state.token

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the sandbox is not running")
        host, port = str(self._server.server_address[0]), int(self._server.server_address[1])
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def start(self: EmulatorT) -> EmulatorT:
        if self._server is None:
            host = "127.0.0.1" if self.config.host == "localhost" else self.config.host
            self._server = SandboxHTTPServer((host, self.config.port), self._dispatch)
            self._thread = threading.Thread(
                target=self._server.serve_forever, args=(0.1,), name=self.thread_name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.state.close()

    def __enter__(self: EmulatorT) -> EmulatorT:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def _answer(self, request: Request) -> Response:
        response = self.handle(request)
        self.state.record(request, response.status)
        return response

    def _dispatch(self, request: Request) -> Response:
        fault = self.faults.take(request.method, request.path)
        if fault is None:
            return self._answer(request)
        if fault.kind == "latency":
            time.sleep(fault.seconds)
            return self._answer(request)
        response = self._answer(request) if fault.processes_first else None
        injected = apply_fault(fault, response)
        if response is None:  # refused before taking effect: still a request the sandbox saw
            self.state.record(request, injected.status if not injected.abort else 0)
        return injected


def serve_until_interrupted(start: Callable[[], Emulator[Any, Any]], describe: Callable[[Any], list[str]]) -> int:
    """`capawesome-ci sandbox serve` for an emulator: start it, say how to reach it, serve until Ctrl+C.
    A bad setting is one line and exit 2; a port that cannot be bound, exit 8."""
    try:
        emulator = start()
    except InputError as error:
        sys.stderr.write(f"capawesome-ci: error: {error.message}\n")
        return int(ExitCode.USAGE)
    except ValueError as error:  # a host that is not loopback
        sys.stderr.write(f"capawesome-ci: error: invalid sandbox setting: {one_line(str(error))}\n")
        return int(ExitCode.USAGE)
    except OSError as error:
        sys.stderr.write(f"capawesome-ci: error: cannot serve the sandbox: {error.strerror or error}\n")
        return int(ExitCode.IO)
    try:
        for line in [*describe(emulator), "Press Ctrl+C to stop."]:
            print(line, flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0
