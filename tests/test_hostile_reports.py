"""Hostile data against every report the ci/ layer writes, through the real CLI and tests/hostile.py.

- The dotenv file a later step `source`s (Bitbucket, `--dotenv`) gives back every value in bash and
  dash and runs nothing; GitLab's dotenv report, read the way GitLab reads it, gives back the same.
- Server text can add no GitHub workflow command and no GitLab section, and stays text in the
  Markdown summary, the step outputs and the pull request comment.
- A report file that cannot be written is one error line naming it and exit code 8; the others are
  still written, and --json still prints its one object.
- Only secrets long enough to be secrets are masked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from capawesome_ci.ci.dotenv import format_dotenv, gitlab_value, single_line
from capawesome_ci.ci.github import GitHubReporter
from capawesome_ci.ci.review_comment import comment_body, marker
from capawesome_ci.redact import SecretRedactor
from capawesome_ci.result import DeploymentResult, StepResult
from tests.conftest import make_site, pem_of
from tests.hostile import Error
from tests.test_github import parse_outputs

# Every way we know to start a workflow command, a section, a link, an image, HTML, a mention or a
# quick action, behind a plausible build number.
PAYLOAD = (
    "7\n::error title=INJECTED::x\r::warning::INJECTED\x85::notice::INJECTED\u2028##[error]INJECTED"
    " \x1b[0Ksection_end:1:capawesome_logs_1\r\x1b[0K\x9b31m )![x](https://evil.example/x.png)"
    "|<img src=https://evil.example/y><script>alert(1)</script> @octocat\n/merge"
)
SHELL_PAYLOADS = [
    "it's-$(touch${IFS}pwned)",
    '`touch pwned`;touch pwned&&echo "$HOME" \\ (x) #c ~ *',
    "%HOME% ${HOME} $$ %% ${} $ trailing$",
    "padded   with  blanks",
]


def dotenv_expected(result: dict[str, Any]) -> dict[str, str]:
    """What the dotenv must hold, from the JSON result (the same values, the same normalisation)."""
    channels = ",".join(d["channel"] for d in result["deployments"] if d["channel"])
    values = {
        "CAPAWESOME_STATUS": result["status"],
        "CAPAWESOME_EXIT_CODE": str(result["exitCode"]),
        "CAPAWESOME_BUILD_NUMBER": result["buildNumber"],
        "CAPAWESOME_CHANNEL": channels,
        "CAPAWESOME_ERROR": result["error"],
    }
    return {key: single_line(value) for key, value in values.items() if value}


def source_in(shell: str, dotenv: Path, keys: list[str]) -> dict[str, str]:
    """`source` the file in `shell` (in its folder, so a command that ran would leave `pwned`)."""
    assert shutil.which(shell), f"{shell} is needed to source the dotenv"
    script = '. "$1" && printf "%s\\0" ' + " ".join(f'"${{{key}-<unset>}}"' for key in keys)
    done = subprocess.run([shell, "-c", script, shell, str(dotenv)], cwd=dotenv.parent, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    values = done.stdout.decode("utf-8").split("\0")[:-1]
    return dict(zip(keys, values, strict=True))


def deploy_to(hostile: Any, channel: str) -> list[str]:
    hostile.build["platform"] = "web"
    hostile.channel["name"] = channel
    return ["deploy", "--build-id", "build-1", "--channel", channel, "--rollout", "50", "--json"]


@pytest.mark.parametrize("channel", SHELL_PAYLOADS)
@pytest.mark.parametrize("how", ["bitbucket", "--dotenv"])
def test_sourced_dotenv_gives_back_every_value_and_runs_nothing(
    hostile: Any, hostile_cli: Any, tmp_path: Path, how: str, channel: str
) -> None:
    args = deploy_to(hostile, channel)
    if how == "bitbucket":
        run = hostile_cli(*args, "--ci", "bitbucket", env={"BITBUCKET_CLONE_DIR": str(tmp_path)})
    else:
        run = hostile_cli(*args, "--ci", "local", "--dotenv", "capawesome.env")
    expected = dotenv_expected(run.json)
    assert expected["CAPAWESOME_CHANNEL"] == single_line(channel)
    for shell in ("bash", "dash"):
        assert source_in(shell, tmp_path / "capawesome.env", list(expected)) == expected, shell
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_sourced_dotenv_carries_a_hostile_error_message(
    hostile: Any, hostile_cli: Any, tmp_path: Path, shell: str
) -> None:
    """An ordinary failure message with parentheses, and one with `$(...)`, quotes and backticks."""
    message = 'bad input (channel): $(touch${IFS}pwned) `touch pwned` it\'s "quoted" $HOME #x\nsecond line'
    hostile.route("POST", f"/v1/apps/{hostile.app_id}/deployments", Error(400, message))
    run = hostile_cli(
        *deploy_to(hostile, "production"), "--ci", "bitbucket", env={"BITBUCKET_CLONE_DIR": str(tmp_path)}
    )
    assert run.code == 2, run.stderr
    expected = dotenv_expected(run.json)
    assert "$(touch${IFS}pwned)" in expected["CAPAWESOME_ERROR"]
    assert source_in(shell, tmp_path / "capawesome.env", list(expected)) == expected
    assert not (tmp_path / "pwned").exists()


# -- GitLab's dotenv report, read as GitLab reads it ---------------------------------------------
_NAME = r"[a-zA-Z_][a-zA-Z0-9_]*"
# Gitlab::Ci::Variables::Collection::Item::VARIABLES_REGEXP
_RAILS = re.compile(rf"\$\$|%%|\$(?P<a>{_NAME})|\$\{{(?P<b>{_NAME})?\}}|%(?P<c>{_NAME})%")
DEFINED = {"HOME": "/root", "CI_JOB_TOKEN": "job-token-value", "IFS": " "}


def gitlab_parse(text: str) -> dict[str, str]:
    """Ci::ParseDotenvArtifactService#scan_line!: `^(.*?)=(.*)$` per line, both parts stripped;
    an empty line or a line without `=` fails the upload."""
    values: dict[str, str] = {}
    for line in text.split("\n")[:-1]:
        match = re.fullmatch(r"(.*?)=(.*)", line)
        assert match, f"GitLab would refuse the line {line!r}"
        key, value = match.group(1).strip(), match.group(2).strip()
        assert re.fullmatch(r"[a-zA-Z0-9_]+", key)
        values[key] = value
    return values


def rails_expand(value: str) -> str:
    """Collection#expand_value with keep_undefined (Ci::Build#runner_variables)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group("a") or match.group("b") or match.group("c")
        return DEFINED.get(name, match.group()) if name else match.group()

    return _RAILS.sub(replace, value)


def runner_expand(value: str) -> str:
    """gitlab-runner JobVariables.ExpandValue: Go's os.Expand with `$$` → `$` (JobVariables.Get)."""

    def special(char: str) -> bool:
        return char in "*#$@!?-" or char.isdigit()

    def shell_name(s: str) -> tuple[str, int]:
        if s[0] == "{":
            if len(s) > 2 and special(s[1]) and s[2] == "}":
                return s[1], 3
            for i in range(1, len(s)):
                if s[i] == "}":
                    return ("", 2) if i == 1 else (s[1:i], i + 1)
            return "", 1
        if special(s[0]):
            return s[0], 1
        i = 0
        while i < len(s) and (s[i] == "_" or (s[i].isascii() and s[i].isalnum())):
            i += 1
        return s[:i], i

    out, i, j = [], 0, 0
    while j < len(value):
        if value[j] == "$" and j + 1 < len(value):
            out.append(value[i:j])
            name, width = shell_name(value[j + 1 :])
            if not name and not width:
                out.append("$")
            elif name:
                out.append("$" if name == "$" else "" if special(name[0]) else DEFINED.get(name, ""))
            j += width
            i = j + 1
        j += 1
    return "".join(out) + value[i:]


@pytest.mark.parametrize(
    "value",
    [*SHELL_PAYLOADS, "$CI_JOB_TOKEN %CI_JOB_TOKEN% ${CI_JOB_TOKEN} $$CI_JOB_TOKEN %%HOME% %$HOME%", "'q' \"d\" # x=y"],
)
def test_gitlab_dotenv_value_reaches_the_next_job_unchanged(value: str) -> None:
    text = format_dotenv({"CAPAWESOME_CHANNEL": value}, "gitlab")
    parsed = gitlab_parse(text)["CAPAWESOME_CHANNEL"]
    assert runner_expand(rails_expand(parsed)) == single_line(value)


def test_gitlab_dotenv_report_through_the_cli(hostile: Any, hostile_cli: Any, tmp_path: Path) -> None:
    channel = SHELL_PAYLOADS[2]
    run = hostile_cli(*deploy_to(hostile, channel), "--ci", "gitlab")
    report = (tmp_path / "capawesome.env").read_text()
    assert len(report.encode()) < 5120
    parsed = {key: runner_expand(rails_expand(value)) for key, value in gitlab_parse(report).items()}
    expected = dotenv_expected(run.json)
    assert {key: parsed[key] for key in expected} == expected


def test_dotenv_normalisation_is_documented_and_bounded() -> None:
    assert single_line("  a\n\tb \r\n c  ") == "a b c"
    assert single_line("x\x1b[31my\x00\x9b") == "x\\x1b[31my\\x00\\x9b"
    assert single_line("v" * 1000) == "v" * 499 + "…"
    assert gitlab_value("$A %B% 5 %") == "$$A %${}B% 5 %"


# -- workflow commands, sections, Markdown --------------------------------------------------------
def github_foreign_lines(text: str) -> list[str]:
    """Lines outside ::stop-commands:: blocks that the runner would read as a command we did not emit:
    `::` at the start (leading blanks trimmed) with the payload as command or data, or `##[` anywhere."""
    foreign, token = [], None
    for line in text.splitlines():
        if token:
            token = None if line == f"::{token}::" else token
            continue
        if line.startswith("::stop-commands::"):
            token = line.removeprefix("::stop-commands::")
            continue
        command = re.match(r"\s*::([^:]*)::(.*)", line)
        if "##[" in line or (command and ("INJECTED" in command.group(1) or command.group(2).startswith("INJECTED"))):
            foreign.append(line)
    return foreign


def unescaped(markdown: str, char: str) -> list[int]:
    """Positions of `char` not preceded by an odd number of backslashes."""
    positions = []
    for match in re.finditer(re.escape(char), markdown):
        slashes = len(markdown[: match.start()]) - len(markdown[: match.start()].rstrip("\\"))
        if slashes % 2 == 0:
            positions.append(match.start())
    return positions


def assert_inert_markdown(markdown: str, base_url: str) -> None:
    """Server text in the summary is text: the only link targets our own URL, tables keep their
    columns, no HTML but ours, no image or script, no mention, no quick action."""
    ours = re.compile(r"\[(?:\\.|[^\\\]])*\]\(" + re.escape(base_url) + r"[^)\s]*\)")
    assert "@octocat" not in markdown.split("<pre>")[0]
    assert not any(line.startswith("/") for line in markdown.splitlines())
    # An HTML block is no Markdown: only its escaping matters there.
    assert all("<" not in body for body in re.findall(r"<pre>(.*?)</pre>", markdown, flags=re.DOTALL))
    markdown = re.sub(r"<pre>.*?</pre>", "<pre></pre>", markdown, flags=re.DOTALL)
    for position in unescaped(markdown, "["):
        assert ours.match(markdown, position), markdown[position : position + 80]
    for position in unescaped(markdown, "<"):
        assert re.match(r"</?(details|summary|pre)>|<a href=\"" + re.escape(base_url), markdown[position:])
    assert "https://evil" not in ours.sub("", markdown)  # nor a bare autolink (`https\://` is text)
    for block in re.split(r"\n\s*\n", markdown):
        rows = [line for line in block.splitlines() if line.startswith("|")]
        assert len({len(unescaped(row, "|")) for row in rows}) <= 1, rows


def failed_wait(hostile: Any) -> list[str]:
    hostile.build["numberAsString"] = PAYLOAD
    hostile.job.update(status="failed", statusMessage=PAYLOAD)
    hostile.log_lines = ["ok", PAYLOAD, "::error::INJECTED", "/merge"]
    return ["wait", "--build-id", "build-1"]


SCENARIOS: dict[str, Callable[[Any], list[str]]] = {
    "failed wait": failed_wait,
    "deploy": lambda hostile: deploy_to(hostile, PAYLOAD.replace("\n", " "))[:-1],
    "failed deploy": lambda hostile: (
        hostile.route("POST", f"/v1/apps/{hostile.app_id}/deployments", Error(400, PAYLOAD)),
        deploy_to(hostile, "production")[:-1],
    )[1],
}


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_server_text_adds_no_github_command_and_stays_text_in_the_summary(
    hostile: Any, hostile_cli: Any, tmp_path: Path, scenario: str, json_flag: list[str]
) -> None:
    args = SCENARIOS[scenario](hostile)
    env = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    run = hostile_cli(*args, "--ci", "github", "--debug", *json_flag, env=env)
    assert run.code in (0, 1, 2), run.stderr
    assert github_foreign_lines(run.stderr) == []
    assert github_foreign_lines(run.stdout) == []
    if json_flag:
        json.loads(run.stdout)  # still one JSON document, whatever was defused in it
    assert_inert_markdown((tmp_path / "summary").read_text(), hostile.base_url)
    outputs = parse_outputs((tmp_path / "output").read_text())
    for name in ("build-number", "error", "channel", "build-id"):
        assert all(line.isprintable() for line in outputs[name].split("\n")), name
    assert "\n" not in outputs["build-number"] + outputs["error"]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_server_text_opens_or_closes_no_gitlab_section(
    hostile: Any, hostile_cli: Any, tmp_path: Path, scenario: str
) -> None:
    run = hostile_cli(*SCENARIOS[scenario](hostile), "--ci", "gitlab")
    for text in (run.stderr, run.stdout):
        for match in re.finditer(r"section_(start|end):", text, re.IGNORECASE):
            assert text[match.start() - 4 : match.start()] == "\x1b[0K"
            assert re.match(r"section_(start|end):\d+:capawesome_logs_\d+", text[match.start() :])
        escapes = re.sub(r"\x1b\[0K|\x1b\[[0-9;]*m", "", text)
        assert "\x1b" not in escapes and "\x9b" not in escapes
    assert_inert_markdown((tmp_path / "capawesome-summary.md").read_text(), hostile.base_url)


def test_pull_request_comment_is_inert_and_its_marker_cannot_be_closed() -> None:
    result = StepResult(
        command="deploy",
        status="failed",
        build_id=PAYLOAD,
        error=PAYLOAD,
        build_url="https://console.example/apps/a/builds/)![x](https://evil.example/)",
        deployments=[DeploymentResult(id="d", channel="beta--->[x](https://evil.example/)<!--")],
    )
    tag = marker("{channel}/{nope}/{app_id.__class__}", {}, result)
    assert tag.count("-->") == 1 and tag.endswith(" -->")
    body = comment_body(tag, result)
    assert_inert_markdown(body.replace(tag, ""), "https://console.example/")
    assert "(https://console.example/apps/a/builds/%29!%5Bx%5D%28https://evil.example/%29)" in body


# -- report files that cannot be written ----------------------------------------------------------
def one_line_naming(stderr: str, path: str) -> list[str]:
    return [line for line in stderr.splitlines() if path in line and "cannot write" in line]


@pytest.mark.parametrize("broken", ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"])
def test_unwritable_github_file_is_exit_8_and_the_rest_is_still_written(
    hostile_cli: Any, tmp_path: Path, broken: str
) -> None:
    (tmp_path / "a-directory").mkdir()
    env = {"GITHUB_OUTPUT": str(tmp_path / "output"), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")}
    env[broken] = "/nonexistent/x" if broken == "GITHUB_OUTPUT" else str(tmp_path / "a-directory")
    run = hostile_cli(
        "download", "--build-id", "build-1", "--ci", "github", "--json", "--output-file", "r.json", env=env
    )
    assert run.code == 8, run.stderr
    assert len(one_line_naming(run.stderr, env[broken])) == 1
    assert "Traceback" not in run.stderr
    assert run.json["exitCode"] == 8 and env[broken] in run.json["error"]
    assert json.loads((tmp_path / "r.json").read_text())["exitCode"] == 8
    assert (tmp_path / "out" / "app-debug.apk").exists() or run.json["artifacts"]
    if broken == "GITHUB_OUTPUT":
        assert "### capawesome-ci download" in (tmp_path / "summary").read_text()
    else:
        assert parse_outputs((tmp_path / "output").read_text())["exit-code"] == "8"


def test_unwritable_dotenv_keeps_the_steps_own_failure_code(hostile: Any, hostile_cli: Any) -> None:
    hostile.job["status"] = "failed"
    run = hostile_cli("wait", "--build-id", "build-1", "--json", "--dotenv", "/nonexistent/x.env")
    assert run.code == 1, run.stderr
    assert run.json["exitCode"] == 1 and run.json["status"] == "failed"
    assert len(one_line_naming(run.stderr, "/nonexistent/x.env")) == 1


def test_unwritable_dotenv_of_a_successful_step_is_exit_8(hostile_cli: Any) -> None:
    run = hostile_cli("wait", "--build-id", "build-1", "--json", "--dotenv", "/nonexistent/x.env")
    assert run.code == 8, run.stderr
    assert run.json["exitCode"] == 8 and run.json["status"] == "succeeded"
    assert len(one_line_naming(run.stderr, "/nonexistent/x.env")) == 1


def test_missing_bitbucket_clone_dir_is_exit_8_for_the_pipe(hostile_cli: Any) -> None:
    run = hostile_cli(
        "pipe", env={"COMMAND": "wait", "BUILD_ID": "build-1", "BITBUCKET_CLONE_DIR": "/nonexistent/clone"}
    )
    assert run.code == 8, run.stderr
    assert "Traceback" not in run.stderr
    assert len(one_line_naming(run.stderr, "/nonexistent/clone/capawesome.env")) == 1
    assert len(one_line_naming(run.stderr, "/nonexistent/clone/capawesome-result.json")) == 1


# -- masking --------------------------------------------------------------------------------------
def test_only_secrets_long_enough_to_be_secret_are_masked() -> None:
    redact = SecretRedactor()
    assert list(redact.add("wrong")) == []
    assert redact("invalid private key: wrong passphrase") == "invalid private key: wrong passphrase"
    pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0w\n-----END ENCRYPTED PRIVATE KEY-----\n"
    assert "MIIFHDBOBgkqhkiG9w0BBQ0w" in list(redact.add(pem))
    assert redact("-----BEGIN ENCRYPTED PRIVATE KEY----- MIIFHDBOBgkqhkiG9w0BBQ0w") == (
        "-----BEGIN ENCRYPTED PRIVATE KEY----- ***"
    )


def test_a_short_passphrase_masks_no_word_of_our_messages(
    hostile_cli: Any, tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    pem = pem_of(rsa_key, passphrase=b"the-right-passphrase")
    (tmp_path / "key.pem").write_text(pem)
    make_site(tmp_path / "dist")
    run = hostile_cli(
        "live-update",
        "--path",
        "dist",
        "--channel",
        "production",
        "--private-key-file",
        "key.pem",
        "--ci",
        "github",
        env={"CAPAWESOME_PRIVATE_KEY_PASSPHRASE": "wrong", "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")},
    )
    assert run.code == 2, run.stderr
    assert "wrong passphrase" in run.stderr and "***" not in run.stderr
    assert "::add-mask::wrong" not in run.stderr.splitlines()
    body_lines = [line for line in pem.splitlines() if not line.startswith("-----")]
    assert all(f"::add-mask::{line}" in run.stderr.splitlines() for line in body_lines)


def test_github_reporter_masks_no_short_piece(tmp_path: Path) -> None:
    import io

    err = io.StringIO()
    reporter = GitHubReporter({"GITHUB_ACTIONS": "true"}, stdout=io.StringIO(), stderr=err)
    reporter.mask("wrong")
    reporter.info("wrong is printed")
    assert err.getvalue() == "wrong is printed\n"
