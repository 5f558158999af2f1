"""Step outputs as a dotenv file, in one of two dialects that cannot be one file.

- `shell` (Bitbucket's `capawesome.env`, `--dotenv` outside GitLab): later steps `source` it, so every
  value is POSIX-shell-quoted where needed (`KEY='it'"'"'s $(x)'`): bash and dash read back exactly
  the value, and nothing in it runs.
- `gitlab` (`artifacts: reports: dotenv`): GitLab reads the file itself (`Ci::ParseDotenvArtifactService`:
  each line split at its first `=`, key and value stripped, quotes kept, no escapes) and stores the
  variables as expandable (`raw: false`). Rails then expands `$NAME`, `${NAME}` and `%NAME%` of defined
  variables but keeps `$$`, `%%` and `${}` as they are (`Collection::Item::VARIABLES_REGEXP`); the
  runner expands `$NAME` and turns `$$` into `$` and drops `${}` (Go `os.Expand`). So `$` is written
  `$$`, and `${}` is put after a `%` that starts a name, which leaves no `%NAME%` for Rails to expand:
  the next job receives exactly the value. Such a file is not for `source`.

Both share the rules GitLab imposes (keys of ASCII letters, digits and `_`; at most 5 120 bytes and,
on older self-managed instances, 20 variables: at most 16 keys, most important first) and one
normalisation of each value, `single_line`. Never secrets or signed URLs: these become visible
variables of later jobs.
"""

from __future__ import annotations

import re
import shlex
from typing import Literal

from capawesome_ci.result import StepResult
from capawesome_ci.text import one_log_line

DotenvStyle = Literal["shell", "gitlab"]

MAX_BYTES = 5120
MAX_VALUE_CHARS = 500
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PERCENT_BEFORE_NAME = re.compile(r"%(?=[A-Za-z_])")


def dotenv_values(result: StepResult) -> dict[str, str]:
    """Most important first: when the size limit bites, the tail is dropped."""
    first_artifact = result.artifacts[0] if result.artifacts else None
    first_deployment = result.deployments[0] if result.deployments else None
    rollout = first_deployment.rollout_percentage if first_deployment else None
    release = first_deployment if first_deployment and first_deployment.release else None
    values = {
        "CAPAWESOME_STATUS": result.status,
        "CAPAWESOME_EXIT_CODE": str(result.exit_code),
        "CAPAWESOME_BUILD_ID": result.build_id,
        "CAPAWESOME_BUILD_NUMBER": result.build_number,
        "CAPAWESOME_JOB_ID": result.job_id,
        "CAPAWESOME_JOB_STATUS": result.job_status,
        "CAPAWESOME_ARTIFACT_PATH": first_artifact.path if first_artifact else None,
        "CAPAWESOME_ARTIFACT_SHA256": first_artifact.sha256 if first_artifact else None,
        "CAPAWESOME_DEPLOYMENT_ID": first_deployment.id if first_deployment else None,
        # Set by release deployments (Peak) only, which set none of the build, artifact, channel and
        # share keys: a run never fills more than 16.
        "CAPAWESOME_RELEASE": release.release if release else None,
        "CAPAWESOME_REVISION": str(release.revision) if release and release.revision is not None else None,
        "CAPAWESOME_JOB_STATUS_RAW": result.job_status_raw if release else None,
        "CAPAWESOME_CHANNEL": ",".join(d.channel for d in result.deployments if d.channel) or None,
        "CAPAWESOME_ROLLOUT_PERCENTAGE": f"{rollout:g}" if rollout is not None else None,
        # Set by bundle deployments (Capgo) only.
        "CAPAWESOME_BUNDLE": first_deployment.bundle if first_deployment else None,
        "CAPAWESOME_BUNDLE_ROLE": first_deployment.bundle_role if first_deployment else None,
        "CAPAWESOME_ROLLOUT_BPS": (
            str(first_deployment.rollout_percentage_bps)
            if first_deployment and first_deployment.rollout_percentage_bps is not None
            else None
        ),
        "CAPAWESOME_SHARE_URL": result.share.url if result.share else None,
        "CAPAWESOME_BUILD_URL": result.build_url,
        "CAPAWESOME_ARTIFACT_PATHS": ",".join(a.path for a in result.artifacts if a.path) or None,
        "CAPAWESOME_DEPLOYMENT_IDS": ",".join(d.id for d in result.deployments) or None,
        "CAPAWESOME_ERROR": result.error,
    }
    return {key: value for key, value in values.items() if value}


def single_line(raw: str) -> str:
    """The one normalisation a value undergoes, in both dialects: runs of white space (line breaks,
    tabs) become one space, leading and trailing ones go; other control characters are shown escaped
    (`\\x1b`); at most 500 characters (the last one then `…`)."""
    value = one_log_line(" ".join(raw.split()))
    return value if len(value) <= MAX_VALUE_CHARS else value[: MAX_VALUE_CHARS - 1] + "…"


def gitlab_value(value: str) -> str:
    """`value` as GitLab must read it to hand `value` to the next job (see the module docstring)."""
    return _PERCENT_BEFORE_NAME.sub("%${}", value.replace("$", "$$"))


def format_dotenv(values: dict[str, str], style: DotenvStyle, max_bytes: int = MAX_BYTES) -> str:
    quote = gitlab_value if style == "gitlab" else shlex.quote
    lines: list[str] = []
    size = 0
    for key, raw in values.items():
        if not _KEY.match(key):
            raise ValueError(f"invalid dotenv key {key!r}")
        line = f"{key}={quote(single_line(raw))}\n"
        if size + len(line.encode()) >= max_bytes:  # GitLab wants the file *smaller* than its limit
            continue
        lines.append(line)
        size += len(line.encode())
    return "".join(lines)
