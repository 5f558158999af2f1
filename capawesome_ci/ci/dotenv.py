"""Step outputs as a dotenv report (GitLab `artifacts: reports: dotenv`, Bitbucket artifacts).

GitLab's rules: keys of ASCII letters, digits and `_`; one line per value, no quoting or escaping;
at most 5 120 bytes and, on older self-managed instances, 20 variables. We stay within all of
them: at most 16 keys, most important first, single-line values, the size checked as we go.
Never secrets or signed URLs: these become visible variables of later jobs.
"""

from __future__ import annotations

import re

from capawesome_ci.steps.result import StepResult

MAX_BYTES = 5120
MAX_VALUE_CHARS = 500
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def dotenv_values(result: StepResult) -> dict[str, str]:
    """Most important first: when the size limit bites, the tail is dropped."""
    first_artifact = result.artifacts[0] if result.artifacts else None
    first_deployment = result.deployments[0] if result.deployments else None
    rollout = first_deployment.rollout_percentage if first_deployment else None
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
        "CAPAWESOME_CHANNEL": ",".join(d.channel for d in result.deployments if d.channel) or None,
        "CAPAWESOME_ROLLOUT_PERCENTAGE": f"{rollout:g}" if rollout is not None else None,
        "CAPAWESOME_SHARE_URL": result.share.url if result.share else None,
        "CAPAWESOME_BUILD_URL": result.build_url,
        "CAPAWESOME_ARTIFACT_PATHS": ",".join(a.path for a in result.artifacts if a.path) or None,
        "CAPAWESOME_DEPLOYMENT_IDS": ",".join(d.id for d in result.deployments) or None,
        "CAPAWESOME_ERROR": result.error,
    }
    return {key: value for key, value in values.items() if value}


def format_dotenv(values: dict[str, str], max_bytes: int = MAX_BYTES) -> str:
    lines: list[str] = []
    size = 0
    for key, raw in values.items():
        if not _KEY.match(key):
            raise ValueError(f"invalid dotenv key {key!r}")
        value = " ".join(raw.split())  # no newlines, no tabs, no leading/trailing blanks
        if len(value) > MAX_VALUE_CHARS:
            value = value[: MAX_VALUE_CHARS - 1] + "…"
        line = f"{key}={value}\n"
        if size + len(line.encode()) > max_bytes:
            continue
        lines.append(line)
        size += len(line.encode())
    return "".join(lines)
