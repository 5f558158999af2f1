"""The provider seam: a platform plugs in with one adapter, one registry entry (and an emulator);
what it cannot do is refused before any request, in one line, with exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci import providers
from capawesome_ci.cli import main
from capawesome_ci.platform import RUNNING, SUCCEEDED, Build, BuildRequest, Capability, CloudPlatform, Job
from capawesome_ci.providers import Connection, Provider, SandboxAccess
from capawesome_ci.steps.build import BuildInputs

CALLS: list[str] = []


class TinyPlatform(CloudPlatform):
    """Builds that succeed on the second look; nothing else."""

    provider = "tiny"

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.looks = 0

    def create_build(self, request: BuildRequest) -> Build:
        CALLS.append(f"create_build {request.platform} {request.options}")
        return Build(id="b1", number="1", platform=request.platform, job_id="j1")

    def get_build(self, build_id: str) -> Build:
        CALLS.append(f"get_build {build_id}")
        return Build(id=build_id, number="1", job_id="j1")

    def get_job(self, job_id: str) -> Job:
        CALLS.append(f"get_job {job_id}")
        self.looks += 1
        return Job(id=job_id, status=SUCCEEDED if self.looks > 1 else RUNNING, raw_status=f"look-{self.looks}")


@contextmanager
def connect(connection: Connection) -> Iterator[TinyPlatform]:
    CALLS.append(f"connect {connection.base_url} {connection.app_id}")
    yield TinyPlatform(connection.app_id)


@contextmanager
def emulate(environ: dict[str, str]) -> Iterator[SandboxAccess]:
    yield SandboxAccess(base_url="http://127.0.0.1:9", token="tiny-sandbox-token-1", app_id="tiny-demo")


class TinyBuildInputs(BuildInputs):
    """The tiny platform's own build input, beside the common ones."""

    flavor: str = "plain"


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    CALLS.clear()
    provider = Provider(
        id="tiny",
        title="Tiny Cloud",
        short_title="Tiny",
        token_variables=("TINY_TOKEN",),
        base_url_variable="TINY_BASE_URL",
        app_id_variable="TINY_APP_ID",
        default_base_url="https://api.tiny.example",
        capabilities=frozenset({Capability.BUILD, Capability.WAIT}),
        adapter=f"{__name__}:connect",
        emulator=f"{__name__}:emulate",
        inputs={"build": f"{__name__}:TinyBuildInputs"},
    )
    monkeypatch.setitem(providers.PROVIDERS, "tiny", provider)
    for name in ("CAPAWESOME_CLOUD_TOKEN", "CAPAWESOME_TOKEN", "CAPAWESOME_CI", "GITHUB_ACTIONS", "GITLAB_CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TINY_TOKEN", "tiny-token-0123456789")
    monkeypatch.setenv("TINY_APP_ID", "app-7")
    yield provider


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any], str]:
    code = main(["--json", *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_build_and_wait_run_on_a_provider_registered_in_one_place(
    tiny: Provider, capsys: pytest.CaptureFixture[str]
) -> None:
    code, result, err = run(capsys, "--provider", "tiny", "build", "--platform", "android", "--flavor", "spicy")
    assert code == 0, err
    assert result["buildId"] == "b1" and result["jobStatus"] == SUCCEEDED and result["jobStatusRaw"] == "look-2"
    assert CALLS[0] == "connect https://api.tiny.example app-7"
    assert CALLS[1].startswith("create_build android")
    assert "Tiny build #1 logs" in err  # the provider's words, not Capawesome's
    assert "Capawesome" not in err

    code, result, err = run(capsys, "--provider", "tiny", "wait", "--build-id", "b1")
    assert code == 0, err
    assert result["status"] == "succeeded"
    assert "job j1: look-1" in err  # no logs on this platform: each status change is reported once


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["rollout", "--channel", "production", "--percentage", "50"], "rollout is not available on tiny"),
        (["download", "--build-id", "b1"], "download is not available on tiny"),
        (["build", "--platform", "web", "--channel", "production"], "invalid --channel: channels is not available"),
        (["build", "--platform", "android", "--share"], "invalid --share: share is not available on tiny"),
        (["wait", "--build-number", "1"], "invalid --build-number: build-numbers is not available on tiny"),
    ],
)
def test_what_a_platform_cannot_do_is_refused_before_any_request(
    tiny: Provider, capsys: pytest.CaptureFixture[str], argv: list[str], refused: str
) -> None:
    code, result, err = run(capsys, "--provider", "tiny", *argv)
    assert code == 2
    assert refused in result["error"]
    assert [line for line in err.splitlines() if line.startswith("error:")] == [f"error: {result['error']}"]
    assert CALLS == []  # not even connected


def test_the_provider_comes_from_the_environment_and_its_sandbox_from_its_entry(
    tiny: Provider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAPAWESOME_CI_PROVIDER", "tiny")
    code, result, err = run(capsys, "--sandbox", "build", "--platform", "ios")
    assert code == 0, err
    assert CALLS[0] == "connect http://127.0.0.1:9 app-7"
    assert "tiny-sandbox-token-1" not in err + json.dumps(result)  # the emulator's token is masked too


def test_an_unknown_provider_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, result, _ = run(capsys, "--provider", "nope", "wait", "--job-id", "j1")
    assert code == 2
    # Every registered provider is listed (each platform adds itself): the default first.
    assert result["error"].startswith("invalid --provider: expected one of capawesome, ")
    assert result["error"].endswith(", got 'nope'") and "\n" not in result["error"]


def test_a_missing_token_names_the_providers_variable(
    tiny: Provider, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TINY_TOKEN")
    monkeypatch.setenv("CI", "true")
    code, result, _ = run(capsys, "--provider", "tiny", "wait", "--job-id", "j1")
    assert code == 2
    assert result["error"] == "missing token: set TINY_TOKEN (or pass --token-file), or use --sandbox"


@pytest.mark.parametrize(
    ("front_end", "expected"),
    [
        ("cli", "invalid --percentage:"),
        ("action", "invalid input percentage:"),
        ("pipe", "invalid variable PERCENTAGE:"),
    ],
)
def test_each_front_end_names_an_input_its_own_way(
    front_end: str,
    expected: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for name in ("GITHUB_ACTIONS", "GITLAB_CI", "CAPAWESOME_CI", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CAPAWESOME_CLOUD_TOKEN", "cap_token_0123456789")
    monkeypatch.chdir(tmp_path)
    if front_end == "cli":
        code = main(["rollout", "--channel", "production", "--percentage", "150"])
    elif front_end == "action":
        monkeypatch.setenv("INPUT_CHANNEL", "production")
        monkeypatch.setenv("INPUT_PERCENTAGE", "150")
        code = main(["action", "rollout"])
    else:
        for name, value in {"COMMAND": "rollout", "CHANNEL": "production", "PERCENTAGE": "150"}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("BITBUCKET_CLONE_DIR", str(tmp_path))
        code = main(["pipe"])
    assert code == 2
    assert expected in capsys.readouterr().err
