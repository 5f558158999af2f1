"""live-update against the sandbox: round trips byte for byte, multipart boundaries, signatures the
server verifies, manifest mode, deployments, dry run."""

from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from capawesome_ci.sandbox import Sandbox, SandboxConfig
from tests.conftest import cli_env, make_site, pem_of, run_cli, sandbox_client

MIB = 1024 * 1024


def bundle_zip(size: int) -> bytes:
    """A valid bundle (index.html at its root) of exactly `size` bytes: a stored entry of random
    bytes pads it (the headers of a stored entry under 4 GiB have a fixed size)."""

    def build(pad: int) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            archive.writestr("index.html", "<!doctype html>")
            archive.writestr("pad.bin", os.urandom(pad))
        return buffer.getvalue()

    return build(size - len(build(0)))


def download(sandbox: Sandbox, build_id: str, artifact_id: str) -> bytes:
    with sandbox_client(sandbox, timeout=60) as http:
        path = f"/v1/apps/{sandbox.app_id}/builds/{build_id}/artifacts/{artifact_id}/download"
        return http.get(path).raise_for_status().content


def test_folder_round_trip_byte_for_byte(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    site = make_site(tmp_path / "www", big=12 * MIB)  # the zip goes through the multipart flow
    result = cli("live-update", "--path", "www", "--channel", "production", "--rollout", "25%", "--json")
    assert result.code == 0, result.stderr
    data = result.json
    bundle = data["artifacts"][0]
    archive = zipfile.ZipFile(io.BytesIO(download(sandbox, data["buildId"], bundle["id"])))
    for path in site.rglob("*"):
        if path.is_file():
            assert archive.read(path.relative_to(site).as_posix()) == path.read_bytes()
    assert data["deployments"][0]["rolloutPercentage"] == 25
    assert not (site / "capawesome-live-update-manifest.json").exists()
    # The downloaded bundle is the uploaded one: `download` gives the same bytes and sha256.
    fetched = cli("download", "--build-id", data["buildId"], "--output-dir", "out", "--json")
    assert fetched.code == 0, fetched.stderr
    assert fetched.json["artifacts"][0]["sha256"] == bundle["sha256"]


@pytest.mark.parametrize("size", [1024, 10 * MIB - 1, 10 * MIB, 10 * MIB + 1, 35 * MIB])
def test_multipart_boundaries(cli: Any, sandbox: Sandbox, tmp_path: Path, size: int) -> None:
    payload = bundle_zip(size)
    assert len(payload) == size
    (tmp_path / "bundle.zip").write_bytes(payload)  # an existing .zip is uploaded unchanged
    result = cli("live-update", "--path", "bundle.zip", "--json")
    assert result.code == 0, result.stderr
    bundle = result.json["artifacts"][0]
    assert bundle["size"] == size
    assert download(sandbox, result.json["buildId"], bundle["id"]) == payload
    multipart = [r for r in sandbox.state.requests if "mpu-uploadpart" in r.query]
    assert len(multipart) == (0 if size < 10 * MIB else -(-size // (10 * MIB)))


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory: pytest.TempPathFactory, rsa_key: rsa.RSAPrivateKey) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    (folder / "key.pem").write_text(pem_of(rsa_key))
    (folder / "public.pem").write_text(pem_of(rsa_key, private=False))
    return folder / "key.pem", folder / "public.pem"


def test_the_server_verifies_our_signatures(tmp_path: Path, key_pair: tuple[Path, Path]) -> None:
    private, public = key_pair
    make_site(tmp_path / "www", big=11 * MIB)
    config = SandboxConfig(queue_seconds=0.05, run_seconds=0.3, public_key_pem=public.read_text())
    with Sandbox(config) as signed_only:
        unsigned = run_cli(["live-update", "--path", "www"], signed_only, cwd=tmp_path)
        assert unsigned.code == 2
        assert "Invalid signature" in unsigned.stderr
        for mode in ("zip", "manifest"):
            signed = run_cli(
                ["live-update", "--path", "www", "--artifact-type", mode, "--private-key-file", str(private), "--json"],
                signed_only,
                cwd=tmp_path,
            )
            assert signed.code == 0, signed.stderr
        # The key may also come from the environment, as a one-line PEM (CI secrets often lose line breaks).
        one_line = " ".join(private.read_text().splitlines())
        env = cli_env(signed_only, CAPAWESOME_PRIVATE_KEY=one_line)
        from_env = run_cli(["live-update", "--path", "www"], env=env, cwd=tmp_path)
        assert from_env.code == 0, from_env.stderr


def test_manifest_mode_uploads_every_file_and_the_manifest(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    files = {"index.html": "<!doctype html><title>app</title>", "assets/app.js": "console.log('hello');\n" * 500}
    make_site(tmp_path / "www", files)
    result = cli("live-update", "--path", "www", "--artifact-type", "manifest", "--channel", "beta", "--json")
    assert result.code == 0, result.stderr
    uploads = [r for r in sandbox.state.requests if r.method == "POST" and r.path.endswith("/files")]
    assert len(uploads) == 3  # index.html, assets/app.js and the manifest
    manifest = download(sandbox, result.json["buildId"], result.json["artifacts"][0]["id"])
    assert b'"href": "assets/app.js"' in manifest


def test_metadata_reaches_the_api(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_site(tmp_path / "www")
    result = cli(
        "--dry-run",
        "live-update",
        "--path",
        "www",
        "--android-min",
        "10",
        "--ios-eq",
        "2.0.1",
        "--custom-property",
        "team=web",
        "--git-ref",
        "v1.2.3",
        "--json",
    )
    assert result.code == 0, result.stderr
    create = result.json["plannedRequests"][0]
    assert create["body"] == {
        "artifactType": "zip",
        "gitRef": "v1.2.3",
        "customProperties": {"team": "web"},
        "minAndroidAppVersionCode": "10",
        "eqIosAppVersionCode": "2.0.1",
    }
    assert [r["method"] for r in result.json["plannedRequests"]] == ["POST", "POST", "PATCH"]
    assert sandbox.state.mutations() == []
    assert len(result.json["artifacts"][0]["sha256"]) == 64  # computed locally in the dry run


def test_self_hosted_bundle(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    payload = bundle_zip(1024)
    (tmp_path / "b.zip").write_bytes(payload)
    result = cli(
        "live-update", "--url", "https://cdn.example.com/b.zip", "--path", "b.zip", "--channel", "beta", "--json"
    )
    assert result.code == 0, result.stderr
    assert result.json["deployments"][0]["channel"] == "beta"
    assert result.json["artifacts"][0]["sha256"] == __import__("hashlib").sha256(payload).hexdigest()


def test_missing_channel_fails_before_uploading(cli: Any, sandbox: Sandbox, tmp_path: Path) -> None:
    make_site(tmp_path / "www")
    result = cli("live-update", "--path", "www", "--channel", "nightly")
    assert result.code == 4
    assert sandbox.state.mutations() == []
