"""The official CLI (`@capawesome/cli`, binary `capawesome`) as an anchor: installed with npm into
bench/.cache, pointed at a sandbox, and kept from phoning home.

The CLI takes its API base URL only from `API_BASE_URL` in a `.capawesomerc` in its working
directory, its token from CAPAWESOME_CLOUD_TOKEN (unless a stored login beats it, hence a private
HOME), and after every command it asks registry.npmjs.org for a newer version. That update check
goes through HTTPS_PROXY, which we point at a local stub that refuses at once: the CLI pays one
loopback round trip instead of a trip to the internet, and nothing leaves the machine.
"""

from __future__ import annotations

import json
import socket
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _harness import CACHE_DIR, clean_env, npm_install
from _sandbox import SandboxClient

NPM_PREFIX = CACHE_DIR / "npm"
PACKAGE = "@capawesome/cli"
BINARY = NPM_PREFIX / "node_modules" / ".bin" / "capawesome"
REFUSAL = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class OfficialCli:
    binary: Path
    version: str


def install() -> tuple[OfficialCli | None, str]:
    """The CLI from the npm cache folder (installing it the first time), or None and why not."""
    why_not = npm_install(PACKAGE, NPM_PREFIX, BINARY)
    if why_not:
        return None, why_not
    manifest = NPM_PREFIX / "node_modules" / "@capawesome" / "cli" / "package.json"
    version = json.loads(manifest.read_text())["version"]
    return OfficialCli(BINARY, version), ""


class PhoneHomeBlocker:
    """A loopback 'proxy' that answers every CONNECT with 403 and counts the attempts. A 403 is a
    response, not a network error, so the CLI's axios-retry gives up at once instead of backing off."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.attempts = 0
        self._thread = threading.Thread(target=self._serve, name="phone-home-blocker", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:  # closed
                return
            with connection:
                connection.settimeout(2)
                try:
                    connection.recv(4096)  # the CONNECT line; its content does not matter
                    connection.sendall(REFUSAL)
                except OSError:
                    pass
            self.attempts += 1

    def close(self) -> None:
        self._listener.close()


@contextmanager
def cli_session(sandbox: SandboxClient | None) -> Iterator[tuple[Path, dict[str, str], PhoneHomeBlocker]]:
    """A working directory whose `.capawesomerc` points at `sandbox`, and the env to run the CLI in."""
    blocker = PhoneHomeBlocker()
    with tempfile.TemporaryDirectory(prefix="capawesome-cli-") as scratch:
        workdir, home = Path(scratch) / "work", Path(scratch) / "home"
        workdir.mkdir()
        home.mkdir()
        env = clean_env(
            HOME=str(home),  # no stored login, no user config of whoever runs the benchmark
            CAPAWESOME_TELEMETRY_DISABLED="1",  # no Sentry crash reports
            HTTPS_PROXY=blocker.url,  # the npm update check (its only https:// request here)
            https_proxy=blocker.url,
        )
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)  # no OS keyring lookups either
        if sandbox is not None:
            (workdir / ".capawesomerc").write_text(f"API_BASE_URL={sandbox.base_url}\n")
            env["CAPAWESOME_CLOUD_TOKEN"] = sandbox.token
        try:
            yield workdir, env, blocker
        finally:
            blocker.close()
