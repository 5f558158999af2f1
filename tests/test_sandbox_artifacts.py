"""Generated build artifacts are real files of their type: the web zip unzips with an index.html,
an apk/aab/ipa is a ZIP with the entries the platform expects, every one exactly its configured
size, with correct CRCs, deterministic, and any Range of it equals that slice of the whole. Past
4 GiB the container is ZIP64, still read through Ranges alone. And a build's log reads like one run,
each line once."""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator

import httpx
import pytest

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from capawesome_ci.sandbox.artifacts import (
    artifact_chunks,
    artifact_sha256,
    crc32_combine,
    remember_kind,
)
from capawesome_ci.sandbox.capawesome.build_log import log_line
from capawesome_ci.sandbox.capawesome.state import LOG_TEMPLATES
from tests.conftest import sandbox_client

SIZE = 300_000
INSTANT = {"CAPAWESOME_SANDBOX_RUN_SECONDS": "0"}
EXPECTED = {
    "web.zip": {"index.html", "assets/index.js"},
    "app-release.apk": {"AndroidManifest.xml", "classes.dex", "resources.arsc", "META-INF/MANIFEST.MF"},
    "app-debug.apk": {"AndroidManifest.xml", "classes.dex", "resources.arsc", "META-INF/MANIFEST.MF"},
    "app-release.aab": {"BundleConfig.pb", "base/manifest/AndroidManifest.xml", "base/dex/classes.dex"},
    "App.ipa": {"Payload/App.app/Info.plist", "Payload/App.app/App", "Payload/App.app/embedded.mobileprovision"},
    "App.app.dSYM.zip": {"App.app.dSYM/Contents/Info.plist", "App.app.dSYM/Contents/Resources/DWARF/App"},
    "App.app.zip": {"App.app/Info.plist", "App.app/App"},
}


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(SandboxConfig(queue_seconds=0.02, run_seconds=0.1, log_lines=40, artifact_size=SIZE)) as running:
        yield running


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with sandbox_client(sandbox) as client:
        yield client


def _artifacts(http: httpx.Client, app: str, **body: object) -> list[tuple[dict[str, object], bytes, str]]:
    """(artifact, its bytes, its download URL) of a finished build."""
    build = http.post(f"{app}/builds", json={**body, "adHocEnvironmentVariables": INSTANT}).json()
    for _ in range(500):
        if http.get(f"/v1/jobs/{build['jobId']}").json()["status"] == "succeeded":
            break
    found = []
    for artifact in http.get(f"{app}/builds/{build['id']}/artifacts").json():
        url = f"{app}/builds/{build['id']}/artifacts/{artifact['id']}/download"
        found.append((artifact, http.get(url).content, url))
    return found


@pytest.mark.parametrize(
    "body",
    [
        {"platform": "web"},
        {"platform": "android", "type": "release"},
        {"platform": "android", "type": "debug"},
        {"platform": "ios", "type": "app-store"},
        {"platform": "ios"},
    ],
    ids=lambda body: "-".join(str(value) for value in body.values()),
)
def test_each_artifact_is_a_valid_file_of_its_type(sandbox: Sandbox, http: httpx.Client, body: dict[str, str]) -> None:
    app = f"/v1/apps/{sandbox.app_id}"
    artifacts = _artifacts(http, app, **body)
    assert artifacts
    for artifact, data, url in artifacts:
        assert len(data) == SIZE == artifact["totalSizeInBytes"]
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            assert archive.testzip() is None  # every entry's CRC checks out
            names = set(archive.namelist())
            assert EXPECTED[str(artifact["fileName"])] <= names, names
            if artifact["fileName"] == "web.zip":
                assert archive.read("index.html").startswith(b"<!doctype html>")
            padded = max(archive.infolist(), key=lambda info: info.file_size)
            assert padded.compress_type == zipfile.ZIP_STORED and padded.file_size > SIZE - 8192
        seed = sandbox.state.artifact_seed(str(artifact["id"]))
        assert hashlib.sha256(data).hexdigest() == artifact_sha256(seed, SIZE)  # what the other tests check
        middle = http.get(url, headers={"Range": "bytes=1000-250000"})
        assert middle.status_code == 206 and middle.content == data[1000:250001]
        tail = http.get(url, headers={"Range": "bytes=-100"})
        assert tail.content == data[-100:]  # the central directory


def test_artifacts_are_deterministic_per_seed_and_any_slice_matches() -> None:
    remember_kind("test:apk", "apk")
    remember_kind("test:other", "apk")
    whole = b"".join(artifact_chunks("test:apk", 3_000_000))
    assert len(whole) == 3_000_000 and whole == b"".join(artifact_chunks("test:apk", 3_000_000))
    assert whole != b"".join(artifact_chunks("test:other", 3_000_000))
    for start, end in ((0, 10), (500, 1_100_000), (1_048_570, 1_048_600), (2_999_000, 3_000_000), (123, 124)):
        assert b"".join(artifact_chunks("test:apk", 3_000_000, start, end)) == whole[start:end]
    assert max(len(chunk) for chunk in artifact_chunks("test:apk", 3_000_000)) <= 1 << 20
    remember_kind("test:tiny", "zip")
    assert len(b"".join(artifact_chunks("test:tiny", 7))) == 7  # too small for a container: raw bytes


def test_crc32_combine_matches_zlib() -> None:
    import zlib

    first, second = b"The quick brown fox " * 37, b"jumps over the lazy dog" * 51
    assert crc32_combine(zlib.crc32(first), zlib.crc32(second), len(second)) == zlib.crc32(first + second)
    assert crc32_combine(zlib.crc32(first), 0, 0) == zlib.crc32(first)


class _RangeFile(io.RawIOBase):
    """A read-only file over `artifact_chunks`: reading it costs only the slices read."""

    def __init__(self, seed: str, size: int) -> None:
        self.seed, self.size, self.position = seed, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = (0, self.position, self.size)[whence] + offset
        return self.position

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = b"".join(artifact_chunks(self.seed, self.size, self.position, self.position + len(buffer)))
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def test_a_5_gib_artifact_is_zip64_and_opens_from_ranges_alone() -> None:
    size = 5 << 30
    remember_kind("test:huge", "ipa")
    with zipfile.ZipFile(io.BufferedReader(_RangeFile("test:huge", size))) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert b"CFBundleExecutable" in archive.read("Payload/App.app/Info.plist")
        pad = infos["Payload/App.app/public/assets/media.bin"]
        assert pad.file_size > 4 << 30 and pad.header_offset + pad.file_size < size


def test_a_long_build_log_reads_like_one_run(sandbox: Sandbox, http: httpx.Client) -> None:
    app = f"/v1/apps/{sandbox.app_id}"
    build = http.post(
        f"{app}/builds", json={"platform": "android", "type": "release", "adHocEnvironmentVariables": INSTANT}
    )
    job = build.json()["jobId"]
    for _ in range(500):
        if http.get(f"/v1/jobs/{job}").json()["status"] == "succeeded":
            break
    lines = [line["payload"] for line in http.get(f"/v1/jobs/{job}/logs").json()]
    assert len(lines) == 40 and len(set(lines)) == 40  # no line twice
    assert [line for line in lines if line in LOG_TEMPLATES["android"]] == list(LOG_TEMPLATES["android"])
    assert "succeeded" in lines[-1]
    for template, milestones in LOG_TEMPLATES.items():
        for count in (1, len(milestones), 50, 3000):
            body = [log_line(milestones, template, count, number) for number in range(1, count + 1)]
            assert len(set(body)) == count, template
            assert [line for line in body if line in milestones] == list(milestones[:count])
