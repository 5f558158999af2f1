"""The platforms capawesome-ci drives, one entry each: everything the rest of the tree needs to know
about a platform without importing it (its adapter and emulator are named, and imported only when
a step runs against them).

Adding a platform: an adapter module in cloud/ (a `connect` function returning a CloudPlatform), an
emulator in sandbox/, one `Provider` entry here, and their tests.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from capawesome_ci.errors import InputError
from capawesome_ci.platform import Capability, CloudPlatform

DEFAULT_PROVIDER = "capawesome"
PROVIDER_VARIABLE = "CAPAWESOME_CI_PROVIDER"


@dataclass(frozen=True)
class Connection:
    """What an adapter needs to talk to its platform."""

    base_url: str
    token: str
    app_id: str
    # Called for each mutation a dry run would send (method, path, body) instead of sending it.
    dry_run_recorder: Callable[[str, str, Any], None] | None = None
    debug: Callable[[str], None] | None = None


@dataclass(frozen=True)
class SandboxAccess:
    """A running emulator of the platform (the sandbox), and how to reach it."""

    base_url: str
    token: str
    app_id: str


@dataclass(frozen=True)
class Provider:
    id: str  # --provider, $CAPAWESOME_CI_PROVIDER, the action input `provider`, the pipe variable PROVIDER
    title: str  # how messages name the platform: "Capawesome Cloud"
    short_title: str  # how log titles name its jobs: "Capawesome build #7 logs"
    token_variables: tuple[str, ...]  # read in this order after --token and --token-file
    base_url_variable: str
    app_id_variable: str  # "" when the platform has no app id (Capwrapper)
    default_base_url: str
    capabilities: frozenset[Capability]
    adapter: str  # "module:function", called with a Connection; a context manager of the CloudPlatform
    emulator: str | None = None  # "module:function", called with the environment; a context manager of a SandboxAccess
    serve: str | None = None  # "module:function", called with `sandbox serve`'s options: serves until interrupted
    # Step inputs only this platform has: command → "module:Model" (a subclass of the step's model).
    inputs: Mapping[str, str] = field(default_factory=dict)
    # A step this platform runs its own way: command → module (with `run`, `needs` and the model
    # named in commands.py), for a platform whose concept of the step differs (Peak's deploy).
    steps: Mapping[str, str] = field(default_factory=dict)
    # "module:function" computing the default base URL from the environment (Peak: from its stage),
    # when it is not one fixed URL; `default_base_url` then only documents the usual one.
    default_base_url_from: str | None = None

    def connect(self, connection: Connection) -> AbstractContextManager[CloudPlatform]:
        return _load(self.adapter)(connection)  # type: ignore[no-any-return]

    def start_emulator(self, environ: dict[str, str]) -> AbstractContextManager[SandboxAccess]:
        if self.emulator is None:
            raise InputError(f"{self.id} has no sandbox", field="sandbox")
        return _load(self.emulator)(environ)  # type: ignore[no-any-return]

    def default_url(self, environ: dict[str, str]) -> str:
        """The base URL when none is given (may raise InputError for a bad setting it reads)."""
        if self.default_base_url_from is None:
            return self.default_base_url
        return _load(self.default_base_url_from)(environ)  # type: ignore[no-any-return]

    def model(self, command: str, default: Any) -> Any:
        """The inputs model of `command` on this platform: its own, that of its own step module
        (named as in commands.py), or the step's."""
        if command in self.inputs:
            return _load(self.inputs[command])
        if command in self.steps:
            from capawesome_ci.commands import COMMANDS

            return getattr(importlib.import_module(self.steps[command]), COMMANDS[command].model)
        return default

    def step(self, command: str, default: ModuleType) -> ModuleType:
        """The module that runs `command` on this platform: its own, or the neutral step."""
        return importlib.import_module(self.steps[command]) if command in self.steps else default

    @staticmethod
    def load(target: str) -> Any:
        """The object a "module:attribute" entry names, imported now."""
        return _load(target)


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


PROVIDERS: dict[str, Provider] = {}


def register(provider: Provider) -> Provider:
    PROVIDERS[provider.id] = provider
    return provider


def get_provider(name: str | None) -> Provider:
    chosen = (name or DEFAULT_PROVIDER).strip().lower()
    if chosen not in PROVIDERS:
        raise InputError(f"expected one of {', '.join(PROVIDERS)}, got {name!r}", field="provider")
    return PROVIDERS[chosen]


register(
    Provider(
        id="capawesome",
        title="Capawesome Cloud",
        short_title="Capawesome",
        token_variables=("CAPAWESOME_CLOUD_TOKEN", "CAPAWESOME_TOKEN"),
        base_url_variable="CAPAWESOME_CLOUD_BASE_URL",
        app_id_variable="CAPAWESOME_APP_ID",
        default_base_url="https://api.cloud.capawesome.io",
        capabilities=frozenset(Capability) - {Capability.RELEASES},
        adapter="capawesome_ci.cloud.capawesome:connect",
        emulator="capawesome_ci.sandbox.capawesome.start:start_capawesome",
        serve="capawesome_ci.sandbox.capawesome.start:serve",
    )
)

_CAPWRAPPER_STEPS = "capawesome_ci.steps.capwrapper."
register(
    Provider(
        id="capwrapper",
        title="Capwrapper",
        short_title="Capwrapper",
        token_variables=("CAPWRAPPER_API_KEY",),
        base_url_variable="CAPWRAPPER_BASE_URL",
        app_id_variable="",  # no app ids: builds belong to the API key
        # The docs' curl examples; their endpoint table writes /api/v1/…: the base URL is the one knob.
        default_base_url="https://api.capwrapper.com/v1",
        capabilities=frozenset({Capability.BUILD, Capability.WAIT, Capability.DOWNLOAD, Capability.DESTINATIONS}),
        adapter="capawesome_ci.cloud.capwrapper:connect",
        emulator="capawesome_ci.sandbox.capwrapper.start:start_capwrapper",
        serve="capawesome_ci.sandbox.capwrapper.start:serve",
        # Every step differs a little (no app id, builds from a web URL, picked by bundle id, stores):
        # each has its own module, and its model is named here too for the front ends.
        inputs={
            "build": _CAPWRAPPER_STEPS + "build:BuildInputs",
            "wait": _CAPWRAPPER_STEPS + "wait:WaitInputs",
            "download": _CAPWRAPPER_STEPS + "download:DownloadInputs",
            "deploy": _CAPWRAPPER_STEPS + "deploy:DeployInputs",
        },
        steps={command: _CAPWRAPPER_STEPS + command for command in ("build", "wait", "download", "deploy")},
    )
)

register(
    Provider(
        id="peak",
        title="Peak Press",
        short_title="Peak",
        token_variables=("PEAK_AUTH_TOKEN", "API_KEY"),  # what peak-sdk reads, in its order
        base_url_variable="PEAK_PRESS_BASE_URL",
        app_id_variable="",  # no apps: deployments belong to the tenant the token names
        default_base_url="https://press.peak.ai",
        default_base_url_from="capawesome_ci.cloud.peak:base_url_from_stage",  # press.{stage}.peak.ai
        capabilities=frozenset({Capability.RELEASES, Capability.WAIT}),
        adapter="capawesome_ci.cloud.peak:connect",
        emulator="capawesome_ci.sandbox.peak.start:start_peak",
        serve="capawesome_ci.sandbox.peak.start:serve",
        # Deploying a release to a named deployment is not the neutral deploy (build → channels).
        steps={"deploy": "capawesome_ci.steps.deploy_release", "wait": "capawesome_ci.steps.wait_release"},
    )
)

_CAPGO_STEPS = "capawesome_ci.steps.capgo."
register(
    Provider(
        id="capgo",
        title="Capgo",
        short_title="Capgo",
        token_variables=("CAPGO_TOKEN",),  # what Capgo's own CLI reads
        base_url_variable="CAPGO_BASE_URL",
        app_id_variable="CAPGO_APP_ID",  # the reverse-DNS app id: com.example.app
        default_base_url="https://api.capgo.app",
        # Capgo Build (native only, from the checkout) and live updates to channels with rollouts; no
        # build numbers, share links, web builds or store destinations (Capgo Build uploads to the
        # stores itself when the request carries store credentials).
        capabilities=frozenset(
            {
                Capability.BUILD,
                Capability.BUILD_SOURCES,
                Capability.WAIT,
                Capability.LOGS,
                Capability.CANCEL,
                Capability.FAILURE_SUMMARY,
                Capability.DOWNLOAD,
                Capability.CHANNELS,
                Capability.ROLLOUT,
                Capability.LIVE_UPDATE,
            }
        ),
        adapter="capawesome_ci.cloud.capgo:connect",
        emulator="capawesome_ci.sandbox.capgo.start:start_capgo",
        serve="capawesome_ci.sandbox.capgo.start:serve",
        # A bundle is Capgo's deployable unit (semver names, never reused): live-update, deploy and
        # rollout take bundle names and Capgo's rollout actions; build adds Capgo Build's credentials.
        inputs={"build": _CAPGO_STEPS + "build:BuildInputs"},
        steps={command: _CAPGO_STEPS + command.replace("-", "_") for command in ("live-update", "deploy", "rollout")},
    )
)
