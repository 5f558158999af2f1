"""End to end with act: the composite action (actions/composite/action.yml, for macOS/Windows runners,
which cannot run container actions) builds, downloads and deploys against the sandbox, and a failing
step keeps its exit code.

act cannot fetch `actions/setup-python` here, so `--local-repository` maps it to a stand-in
(tests/stand-ins/setup-python) that, like the real action on a hosted runner, puts a Python from the
runner's tool cache on PATH. The job image is the usual runner image plus that tool cache (the
interpreter of the local python image); its own python3 has no venv/pip and there is no `python`, so
the composite action only works through the stand-in. The composite action itself runs unmodified: it
pip-installs `$GITHUB_ACTION_PATH/../..`, i.e. the checkout act copied in."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from capawesome_ci.devtools.action_yml import OUTPUTS
from capawesome_ci.sandbox import Sandbox
from capawesome_ci.sandbox.artifacts import artifact_sha256
from tests.conftest import REPO_ROOT, run_workflow, sandbox_client

WORKFLOW = "tests/workflows/composite.yml"
STAND_IN = REPO_ROOT / "tests" / "stand-ins" / "setup-python"
PYTHON_IMAGE = "python:3.12-slim"  # container-env's interpreter image: the tool cache's Python
RUNNER_IMAGE = "capawesome-ci-test/hosted-runner:bookworm"
RUNNER_DOCKERFILE = f"""FROM container-env/ci-runner:bookworm
ARG PYTHON_VERSION
COPY --from={PYTHON_IMAGE} /usr/local/ /opt/hostedtoolcache/Python/$PYTHON_VERSION/x64/
"""


def runner_image(docker_client: Any) -> tuple[str, str]:
    """The job image with a hosted runner's tool cache; returns (tag, the cached Python's version)."""
    env = dict(e.split("=", 1) for e in docker_client.images.get(PYTHON_IMAGE).attrs["Config"]["Env"])
    version = env["PYTHON_VERSION"]
    docker_client.images.build(
        fileobj=io.BytesIO(RUNNER_DOCKERFILE.encode()), tag=RUNNER_IMAGE, buildargs={"PYTHON_VERSION": version}, rm=True
    )
    return RUNNER_IMAGE, version


def setup_python_ref() -> str:
    """The `owner/repo@ref` the generated composite action uses, which the stand-in must replace."""
    refs = re.findall(r"uses: (actions/setup-python@\S+)", (REPO_ROOT / "actions/composite/action.yml").read_text())
    assert len(refs) == 1, refs
    return refs[0]


def parse_log(text: str) -> list[dict[str, Any]]:
    """act's --json log, one object per line; a line that is not JSON (act crashing) is kept as text."""
    entries = []
    for line in filter(str.strip, text.splitlines()):
        try:
            entries.append(json.loads(line))
        except ValueError:
            entries.append({"msg": line})
    return entries


def printed(entries: list[dict[str, Any]], marker: str) -> dict[str, Any]:
    """The `marker NAME JSON` lines the workflow's Report step printed, by NAME (or `marker JSON` → {"": …})."""
    found: dict[str, Any] = {}
    for entry in entries:
        if entry.get("raw_output") and entry.get("stepID") == ["report"] and entry["msg"].startswith(marker + " "):
            rest = entry["msg"][len(marker) + 1 :].strip()
            name, value = rest.split(" ", 1) if not rest.startswith(("{", "[")) else ("", rest)
            found[name] = json.loads(value)
    return found


def summaries(entries: list[dict[str, Any]], step: str) -> set[str]:
    """What act showed as $GITHUB_STEP_SUMMARY for the workflow step `step` (act logs it for the
    composite's inner step and again for the step itself: one content, or the test shows both)."""
    return {e["content"] for e in entries if e.get("command") == "summary" and e["stepID"][0] == step}


def test_composite_action_maps_every_output_of_its_cli_step() -> None:
    # act hands a composite step every output its inner step wrote, declared or not, so the run below
    # cannot see an output the action forgot to declare or mapped wrongly: checked here, on the file.
    action = (REPO_ROOT / "actions/composite/action.yml").read_text()
    outputs_block = action.split("\noutputs:\n", 1)[1].split("\nruns:\n", 1)[0]
    mapped = re.findall(
        r"^  ([\w-]+):\n    description: .*\n    value: \$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}$",
        outputs_block,
        re.M,
    )
    [cli_step] = [block for block in action.split("\n    - ") if 'capawesome-ci" action' in block]
    cli_step_id = re.search(r"^id: ([\w-]+)$", cli_step, re.M)
    assert cli_step_id, cli_step
    assert mapped == [(name, cli_step_id.group(1), name) for name in OUTPUTS]


@pytest.mark.container
def test_composite_action_builds_downloads_deploys(docker_client: Any, act: list[str], sandbox: Sandbox) -> None:
    image, python_version = runner_image(docker_client)
    result = run_workflow(
        act,
        WORKFLOW,
        secrets={"CAPAWESOME_CLOUD_TOKEN": sandbox.token},
        env={"CAPAWESOME_CLOUD_BASE_URL": sandbox.base_url, "CAPAWESOME_APP_ID": sandbox.app_id},
        # After the fixture's -P: act takes the last mapping; the stand-in replaces actions/setup-python.
        options=("-P", f"ubuntu-latest={image}", "--local-repository", f"{setup_python_ref()}={STAND_IN}", "--json"),
    )
    entries = parse_log(result.stdout)
    # The log as act prints it without --json, for failure messages.
    log = "".join(e.get("msg", "") if e.get("raw_output") else f"{e.get('msg', '')}\n" for e in entries)
    log += result.stderr
    assert result.returncode == 0, log

    # Each workflow step ran the composite action, and the composite's setup step ran the stand-in.
    results = {
        e["stepID"][0]: e["stepResult"]
        for e in entries
        if "stepResult" in e and e.get("stage") == "Main" and len(e["stepID"]) == 1
    }
    assert results == {
        "checkout": "success",
        "build": "success",
        "download": "success",
        "deploy": "success",
        "rollout": "failure",  # the CLI's exit 2 reached the runner
        "report": "success",
    }, log
    for step in ("build", "download", "deploy", "rollout"):
        # stepID: workflow step, the composite's step index, the stand-in's own step id.
        set_up = [e["msg"] for e in entries if e.get("raw_output") and e["stepID"][::2] == [step, "setup"]]
        assert set_up == [f"Successfully set up CPython ({python_version})\n"], log

    # The venv the composite made is on the tool cache's Python and holds the checkout, not PyPI's release.
    venv = printed(entries, "composite-venv")[""]
    assert venv["base_prefix"] == f"/opt/hostedtoolcache/Python/{python_version}/x64", log
    assert venv["installed_from"] == f"file://{venv['workspace']}", log

    # Outputs, whole: every declared output is there, the ones a step does not set are empty.
    with sandbox_client(sandbox) as http:
        [build] = http.get(f"/v1/apps/{sandbox.app_id}/builds").json()
        [artifact] = http.get(f"/v1/apps/{sandbox.app_id}/builds/{build['id']}/artifacts").json()
        [deployment] = http.get(f"/v1/apps/{sandbox.app_id}/deployments").json()
    assert deployment["rolloutPercentage"] == 0.3  # deployed once, at 30 %
    outputs = printed(entries, "composite-outputs")
    assert printed(entries, "composite-outcomes")[""] == ["success", "success", "success", "failure"], log
    results_json = {step: json.loads(outputs[step].pop("result")) for step in outputs}
    blank = dict.fromkeys(OUTPUTS, "")
    del blank["result"]
    build_url = f"{sandbox.base_url}/console/apps/{sandbox.app_id}/builds/{build['id']}"
    of_build = {"build-id": build["id"], "build-number": "1", "build-url": build_url, "job-id": build["jobId"]}
    ok = {"status": "succeeded", "exit-code": "0"}
    sha256 = artifact_sha256(f"{sandbox.config.seed}:{artifact['id']}", 256 * 1024)
    assert outputs == {
        "build": {**blank, **ok, **of_build, "job-status": "succeeded", "job-status-raw": "succeeded"},
        "download": {**blank, **ok, **of_build, "artifact-paths": "artifacts/web.zip", "artifact-sha256": sha256},
        "deploy": {
            **blank,
            **ok,
            **of_build,
            "channel": "production",
            "deployment-ids": deployment["id"],
            "rollout-percentage": "30",
        },
        "rollout": {**blank, "status": "error", "exit-code": "2", "error": "missing input percentage"},
    }, log
    for step, step_result in results_json.items():
        assert (step_result["command"], step_result["status"]) == (step, outputs[step]["status"]), log
        assert str(step_result["exitCode"]) == outputs[step]["exit-code"], log
    assert "artifacts/web.zip: OK" in log  # the Report step checked the file against artifact-sha256

    # Summaries, whole (the build's duration varies: checked for its shape, then set).
    git_ref = results_json["build"]["gitRef"]
    assert re.fullmatch(r"[0-9a-f]{40}", git_ref), git_ref
    head = (
        f"| **App** | {sandbox.app_id} |\n| **Build** | \\#1 |\n| **Platform** | web |\n| **Git ref** | {git_ref} |\n"
    )
    label = build_url.replace("://", "\\://", 1)  # the label is escaped text, so no autolink forms
    console = f"| **Console** | [{label}]({build_url}) |\n"
    table = "| | |\n|---|---|\n"
    duration = re.compile(r"(\| \*\*Duration\*\* \| )\d+ s \|")
    assert {duration.sub(r"\1N s |", summary) for summary in summaries(entries, "build")} == {
        f"### capawesome-ci build: succeeded\n\n{table}{head}| **Job status** | succeeded |\n"
        f"| **Duration** | N s |\n{console}\n"
    }
    assert summaries(entries, "download") == {
        f"### capawesome-ci download: succeeded\n\n{table}{head}{console}\n### Artifacts\n\n"
        f"| File | Type | Size | SHA-256 |\n|---|---|---|---|\n| artifacts/web.zip | zip | 256.0 KiB | {sha256} |\n\n"
    }
    assert summaries(entries, "deploy") == {
        f"### capawesome-ci deploy: succeeded\n\n{table}{head}{console}\n### Deployments\n\n"
        "| Target | Rollout | Status | Deployment |\n|---|---|---|---|\n"
        f"| channel production | 30 % | created | {deployment['id']} |\n\n"
    }
    assert summaries(entries, "rollout") == {
        f"### capawesome-ci rollout: error\n\n{table}| **Error** | missing input percentage |\n\n"
    }

    # The token shows only where it is registered as a secret (::add-mask::), masked everywhere else.
    for entry in entries:
        if entry.get("command") != "add-mask":
            assert sandbox.token not in json.dumps(entry), entry
    assert sandbox.token not in result.stderr
