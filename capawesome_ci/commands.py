"""The steps, described once (pip's CommandInfo): the CLI, the action and pipe entry points and the
generated action files read this table; a step's module is imported only when it runs."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any


@dataclass(frozen=True)
class Command:
    name: str
    module: str  # has `run(inputs, ctx)` and the inputs model
    model: str
    summary: str

    def load(self) -> tuple[ModuleType, Any]:
        module = importlib.import_module(self.module)
        return module, getattr(module, self.model)


_STEPS = "capawesome_ci.steps."
COMMANDS: dict[str, Command] = {
    command.name: command
    for command in (
        Command("build", _STEPS + "build", "BuildInputs", "trigger a build, wait, then download/deploy/share"),
        Command("wait", _STEPS + "wait", "WaitInputs", "follow a job (or a build's or deployment's job) to its end"),
        Command("download", _STEPS + "download", "DownloadInputs", "download a build's artifacts with sha256"),
        Command("deploy", _STEPS + "deploy", "DeployInputs", "deploy a build to channels or a store destination"),
        Command("rollout", _STEPS + "rollout", "RolloutInputs", "change the rollout of a channel's deployment"),
        Command(
            "live-update",
            _STEPS + "live_update",
            "LiveUpdateInputs",
            "upload a local web build as a (signed) bundle and deploy it to channels",
        ),
    )
}
