"""Secret hygiene: a canary token and a canary private key, run through every command in every mode
(normal, --debug, --dry-run, --json, failing auth, failing API, crash paths, each CI), never appear in
stdout, stderr, output files, summaries, dotenv reports or error text."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from capawesome_ci.sandbox import Sandbox
from tests import reliability
from tests.conftest import CANARY_TOKEN, cli_env, make_site, pem_of, run_cli

COMMANDS = {
    "build": ["build", "--platform", "web", "--channel", "beta"],
    "wait": ["wait", "--build-number", "1"],
    "download": ["download", "--build-number", "1", "--output-dir", "out"],
    "deploy": ["deploy", "--build-number", "1", "--channel", "production", "--rollout", "5"],
    "rollout": ["rollout", "--channel", "beta", "--percentage", "7"],
    "live-update": ["live-update", "--path", "www", "--channel", "beta", "--private-key-file", "key.pem"],
}
MODES = {
    "normal": [],
    "debug": ["--debug"],
    "dry-run": ["--dry-run", "--debug"],
    "json": ["--json"],
}


@pytest.fixture(scope="module")
def canary_key(rsa_key: rsa.RSAPrivateKey) -> str:
    return pem_of(rsa_key)


def key_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def assert_clean(texts: list[str], pem: str, *others: str) -> int:
    """Canary hits (the token, the key's lines, `others`). `::add-mask::` lines are how GitHub is told
    what to hide: the runner shows `***`."""
    hits = 0
    for raw in texts:
        text = "\n".join(line for line in raw.splitlines() if not line.startswith("::add-mask::"))
        hits += text.count(CANARY_TOKEN)
        hits += sum(text.count(line) for line in [*key_lines(pem), *others])
    return hits


def workspace(tmp_path: Path, pem: str) -> Path:
    make_site(tmp_path / "www")
    (tmp_path / "key.pem").write_text(pem)
    return tmp_path


@pytest.mark.parametrize(
    ("mode", "ci"),
    [("normal", "local"), ("debug", "github"), ("dry-run", "gitlab"), ("json", "github"), ("debug", "bitbucket")],
)
def test_canaries_never_leak(sandbox: Sandbox, tmp_path: Path, canary_key: str, mode: str, ci: str) -> None:
    workspace(tmp_path, canary_key)
    # A web build to act on, whatever the command.
    assert run_cli(["build", "--platform", "web", "--channel", "beta"], sandbox, cwd=tmp_path).code == 0
    files = {"output": tmp_path / "github_output", "summary": tmp_path / "github_summary"}
    for path in files.values():
        path.touch()
    extra = (
        {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"])}
        if ci == "github"
        else {}
    )
    env = cli_env(sandbox, CAPAWESOME_PRIVATE_KEY=canary_key, **extra)
    outputs: list[str] = []
    for name, args in COMMANDS.items():
        result = run_cli(
            [
                "--ci",
                ci,
                *MODES[mode],
                "--output-file",
                f"{name}.json",
                "--dotenv",
                f"{name}.env",
                "--summary-file",
                f"{name}.md",
                *args,
            ],
            env=env,
            cwd=tmp_path,
        )
        assert result.code in (0, 4), (name, result.stderr[-1500:])
        outputs += [result.stdout, result.stderr]
    outputs += [p.read_text() for p in tmp_path.glob("*.json")] + [p.read_text() for p in tmp_path.glob("*.env")]
    outputs += [p.read_text() for p in tmp_path.glob("*.md")] + [p.read_text() for p in files.values()]
    hits = assert_clean(outputs, canary_key)
    reliability.count("canary runs", len(COMMANDS))
    reliability.count("canary hits", hits)
    assert hits == 0


@pytest.mark.parametrize(
    ("label", "env_change", "args"),
    [
        ("failing auth", {"CAPAWESOME_CLOUD_TOKEN": CANARY_TOKEN + "-wrong"}, ["build", "--platform", "android"]),
        ("failing API", {}, ["deploy", "--build-id", "nope", "--channel", "production"]),
        (
            "unreachable API",
            {"CAPAWESOME_CLOUD_BASE_URL": "http://127.0.0.1:9"},
            ["rollout", "--channel", "b", "--percentage", "1"],
        ),
        (
            "crash path: invalid base URL",
            {"CAPAWESOME_CLOUD_BASE_URL": "http://127.0.0.1:99999"},
            ["wait", "--job-id", "j"],
        ),
        ("token on the command line", {}, ["--token", CANARY_TOKEN, "--debug", "build", "--platform", "x"]),
        ("key with a bad passphrase", {"CAPAWESOME_PRIVATE_KEY_PASSPHRASE": "nope"}, ["live-update", "--path", "www"]),
    ],
)
def test_canaries_never_leak_on_failures(
    sandbox: Sandbox, tmp_path: Path, canary_key: str, label: str, env_change: dict[str, str], args: list[str]
) -> None:
    workspace(tmp_path, canary_key)
    env = cli_env(sandbox, CAPAWESOME_PRIVATE_KEY=canary_key, **env_change)
    modes = (
        [["--json", "--debug"]] if label == "unreachable API" else [[], ["--json", "--debug"]]
    )  # retries take seconds
    for json_mode in modes:
        result = run_cli([*json_mode, "--output-file", "r.json", *args], env=env, cwd=tmp_path, timeout=120)
        assert result.code != 0, label
        assert "Traceback" not in result.stderr, label
        texts = [result.stdout, result.stderr] + (
            [(tmp_path / "r.json").read_text()] if (tmp_path / "r.json").exists() else []
        )
        hits = assert_clean(texts, canary_key)
        reliability.count("canary runs")
        reliability.count("canary hits", hits)
        assert hits == 0, label


def test_key_lines_are_masked_on_github(sandbox: Sandbox, tmp_path: Path, canary_key: str) -> None:
    workspace(tmp_path, canary_key)
    env = cli_env(sandbox, GITHUB_ACTIONS="true")
    result = run_cli(
        ["live-update", "--path", "www", "--private-key-file", "key.pem", "--dry-run"], env=env, cwd=tmp_path
    )
    assert result.code == 0, result.stderr
    masks = {
        line.removeprefix("::add-mask::") for line in result.stderr.splitlines() if line.startswith("::add-mask::")
    }
    assert set(key_lines(canary_key)) <= masks
    assert CANARY_TOKEN in masks


CAPGO_CREDENTIAL = "capgo-keystore-canary-5a1f9e"  # a keystore password, as Capgo Build takes it
_ENCRYPTED = ["live-update", "--path", "www", "--encryption-key-file", "key.pem", "--channel", "production"]
CAPGO_COMMANDS = {
    "live-update": [*_ENCRYPTED, "--bundle", "1.0.0"],
    "rollout-start": [*_ENCRYPTED, "--bundle", "1.0.1", "--rollout", "10"],
    "rollout": ["rollout", "--channel", "production", "--pause"],
    "deploy": ["deploy", "--bundle", "1.0.0", "--channel", "beta", "--create-channel"],
    "build": ["build", "--platform", "android", "--path", "app", "--download", "apk", "--output-dir", "out"],
}


@pytest.mark.parametrize(
    ("mode", "ci"),
    [("normal", "local"), ("debug", "github"), ("dry-run", "gitlab"), ("json", "github"), ("debug", "bitbucket")],
)
def test_capgo_canaries_never_leak(tmp_path: Path, canary_key: str, mode: str, ci: str) -> None:
    """The API key, the bundle encryption key and Capgo Build's credentials (also as the base64 a
    keystore file is sent as), in every mode and CI."""
    import base64

    from capawesome_ci.sandbox.capgo.builds import BuildConfig
    from capawesome_ci.sandbox.capgo.start import CapgoEmulator
    from capawesome_ci.sandbox.capgo.state import CapgoConfig

    workspace(tmp_path, canary_key)
    (tmp_path / "app" / "android").mkdir(parents=True)
    (tmp_path / "app" / "package.json").write_text("{}")
    keystore = tmp_path / "release.keystore"
    keystore.write_bytes(CAPGO_CREDENTIAL.encode() * 4)
    files = {"output": tmp_path / "github_output", "summary": tmp_path / "github_summary"}
    for path in files.values():
        path.touch()
    extra = (
        {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(files["output"]), "GITHUB_STEP_SUMMARY": str(files["summary"])}
        if ci == "github"
        else {}
    )
    config = CapgoConfig(token=CANARY_TOKEN)
    with CapgoEmulator(config, BuildConfig(run_seconds=0.5, queue_seconds=0.1)) as emulator:
        env = {
            key: value
            for key, value in cli_env(None).items()
            if not key.startswith(("CAPAWESOME_", "CAPGO_", "KEYSTORE_"))
        }
        env.update(
            CAPGO_TOKEN=CANARY_TOKEN,
            CAPGO_BASE_URL=emulator.base_url,
            CAPGO_APP_ID=config.app_id,
            KEYSTORE_KEY_PASSWORD=CAPGO_CREDENTIAL,
            ANDROID_KEYSTORE_FILE=base64.b64encode(keystore.read_bytes()).decode(),
            **extra,
        )
        outputs: list[str] = []
        for name, args in CAPGO_COMMANDS.items():
            reports = ["--output-file", f"{name}.json", "--dotenv", f"{name}.env", "--summary-file", f"{name}.md"]
            result = run_cli(
                ["--provider", "capgo", "--ci", ci, *MODES[mode], *reports, *args], env=env, cwd=tmp_path, timeout=90
            )
            # A dry run creates nothing for the later commands to find (2: no stable bundle, 4: none).
            assert result.code in ((0, 2, 4) if mode == "dry-run" else (0,)), (name, result.stderr[-1500:])
            outputs += [result.stdout, result.stderr]
    outputs += [p.read_text() for p in tmp_path.glob("*.json")] + [p.read_text() for p in tmp_path.glob("*.env")]
    outputs += [p.read_text() for p in tmp_path.glob("*.md")] + [p.read_text() for p in files.values()]
    hits = assert_clean(outputs, canary_key, CAPGO_CREDENTIAL, base64.b64encode(keystore.read_bytes()).decode())
    reliability.count("canary runs", len(CAPGO_COMMANDS))
    reliability.count("canary hits", hits)
    assert hits == 0
