"""steps/live_update.py in-process against FakePlatform: a tiny site in tmp_path becomes the uploads
handed to `publish_bundle`, then the bundle's build is deployed."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from capawesome_ci.errors import ExitCode, InputError, NotFoundError
from capawesome_ci.steps import live_update
from capawesome_ci.steps.bundle import MANIFEST_NAME
from capawesome_ci.steps.live_update import LiveUpdateInputs
from tests.conftest import make_site, pem_of
from tests.fakes import INPUT_REFUSED, FakePlatform, RecordingReporter, make_ctx

SITE = {
    "index.html": b"<!doctype html><script src=app.js></script>",
    "app.js": b"console.log('hi')\n" * 50,
    "assets/logo.svg": b"<svg/>",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    return make_site(tmp_path / "www", {**SITE, ".DS_Store": b"junk"})  # .DS_Store: never shipped


def inputs(**given: Any) -> LiveUpdateInputs:
    return LiveUpdateInputs.model_validate({"app_id": "app-1", **given})


def reporter_of(ctx: Any) -> RecordingReporter:
    assert isinstance(ctx.reporter, RecordingReporter)
    return ctx.reporter


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_folder_is_zipped_published_and_deployed(site: Path) -> None:
    platform = FakePlatform()
    platform.add_channel("production")
    ctx = make_ctx(platform, environ={"CI_COMMIT_SHA": "c0ffee"})
    live_update.run(
        inputs(path=str(site), channel="production", rollout=10, custom_property=["team=web"], android_min="21"), ctx
    )

    (published,) = platform.bundles
    (upload,) = published.uploads
    assert (upload.name, upload.href, upload.mime_type, upload.signature) == (
        "bundle.zip",
        None,
        "application/zip",
        None,
    )
    data = published.contents["bundle.zip"]
    assert (upload.size, upload.checksum) == (len(data), sha256(data))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert {name: archive.read(name) for name in archive.namelist()} == SITE
    request = published.request
    assert (request.artifact_type, request.git_ref, request.url) == ("zip", "c0ffee", None)
    assert request.custom_properties == {"team": "web"}
    assert request.version_constraints == {"android_min": "21"}
    # Then the bundle's build is deployed at the rollout.
    (call,) = platform.called("create_deployment")
    assert call.args == (published.bundle.build_id,)
    assert call.kwargs["rollout_percentage"] == 10.0
    (artifact,) = ctx.result.artifacts
    assert (artifact.id, artifact.type, artifact.sha256, artifact.size) == (
        published.bundle.id,
        "zip",
        upload.checksum,
        upload.size,
    )
    assert ctx.result.build_id == published.bundle.build_id
    assert ctx.result.status == "succeeded"
    assert reporter_of(ctx).progress_calls[-1] == ("bundle.zip", upload.size, upload.size)


def test_the_same_folder_always_gives_the_same_zip(site: Path) -> None:
    platform = FakePlatform()
    live_update.run(inputs(path=str(site)), make_ctx(platform))
    (site / "index.html").touch()  # a new mtime must not change the bytes
    live_update.run(inputs(path=str(site)), make_ctx(platform))
    first, second = (bundle.uploads[0].checksum for bundle in platform.bundles)
    assert first == second


def test_manifest_mode_uploads_every_file_and_the_manifest_last(site: Path) -> None:
    platform = FakePlatform()
    ctx = make_ctx(platform)
    live_update.run(inputs(path=str(site), artifact_type="manifest"), ctx)

    (published,) = platform.bundles
    names = [upload.name for upload in published.uploads]
    assert names == ["app.js", "assets/logo.svg", "index.html", MANIFEST_NAME]
    for upload in published.uploads[:-1]:
        assert upload.href == upload.name
        assert upload.checksum == sha256(SITE[upload.name])
        assert upload.size == len(SITE[upload.name])
    assert published.uploads[2].mime_type == "text/html"
    manifest = json.loads(published.contents[MANIFEST_NAME])
    assert manifest == [
        {"href": name, "checksum": sha256(SITE[name]), "sizeInBytes": len(SITE[name])} for name in names[:-1]
    ]
    assert not (site / MANIFEST_NAME).exists()  # written to a scratch folder, never into the user's
    assert ctx.result.artifacts[0].sha256 == published.uploads[-1].checksum
    assert reporter_of(ctx).progress_calls[-1][0] == "4 files"


def test_a_key_signs_every_upload_and_is_masked(site: Path, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = pem_of(rsa_key)
    key_file = tmp_path / "key.pem"
    key_file.write_text(pem, encoding="utf-8")
    platform = FakePlatform()
    ctx = make_ctx(platform)
    live_update.run(inputs(path=str(site), artifact_type="manifest", private_key_file=str(key_file)), ctx)

    assert pem in reporter_of(ctx).masks
    published = platform.bundles[0]
    for upload in published.uploads:
        assert upload.signature is not None
        rsa_key.public_key().verify(
            base64.b64decode(upload.signature), published.contents[upload.name], padding.PKCS1v15(), hashes.SHA256()
        )


def test_a_key_in_the_environment_with_lost_line_breaks_is_used(site: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    platform = FakePlatform()
    environ = {live_update.PRIVATE_KEY_ENV: pem_of(rsa_key).replace("\n", " ")}
    live_update.run(inputs(path=str(site)), make_ctx(platform, environ=environ))
    assert platform.bundles[0].uploads[0].signature


def test_an_existing_zip_is_uploaded_unchanged(tmp_path: Path) -> None:
    archive = tmp_path / "site.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("index.html", "<html></html>")
    platform = FakePlatform()
    live_update.run(inputs(path=str(archive)), make_ctx(platform))
    assert platform.bundles[0].contents["bundle.zip"] == archive.read_bytes()


def test_a_self_hosted_url_uploads_nothing() -> None:
    platform = FakePlatform()
    ctx = make_ctx(platform)
    live_update.run(inputs(url="https://cdn.example/bundle.zip"), ctx)
    (published,) = platform.bundles
    assert published.uploads == []
    assert published.request.url == "https://cdn.example/bundle.zip"
    assert ctx.result.artifacts[0].path == "https://cdn.example/bundle.zip"


def test_a_missing_channel_fails_before_anything_is_uploaded(site: Path) -> None:
    platform = FakePlatform()
    with pytest.raises(NotFoundError) as raised:
        live_update.run(inputs(path=str(site), channel="production"), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert not platform.called("publish_bundle")


def test_dry_run_plans_the_bundle_and_deploys_nothing(site: Path) -> None:
    platform = FakePlatform()
    channel = platform.add_channel("production")
    ctx = make_ctx(platform, dry_run=True)
    live_update.run(inputs(path=str(site), channel="production", rollout=5), ctx)
    assert platform.sent_mutations() == []
    assert [call.method for call in platform.planned()] == ["publish_bundle"]
    assert not platform.called("get_build")
    assert channel.active_deployment is None
    assert ctx.result.status == "succeeded"
    planned = "dry run: would deploy the bundle to production at 5 %"
    assert any(info.startswith(planned) for info in reporter_of(ctx).infos)


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"url": "http://cdn.example/bundle.zip"},
        {"url": "https://cdn.example/b.zip", "artifact_type": "manifest"},
        {"path": "/nonexistent/www"},
        {"artifact_type": "tar"},
        {"url": "https://cdn.example/b.zip", "custom_property": ["k=v"] * 11},
        {"url": "https://cdn.example/b.zip", "custom_property": ["no-equals"]},
        {"url": "https://cdn.example/b.zip", "rollout": "101"},
    ],
)
def test_refuses_bad_inputs(given: dict[str, Any]) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(**given)


def test_refuses_a_folder_without_index_html(tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("x")
    with pytest.raises(INPUT_REFUSED):
        inputs(path=str(tmp_path))


def test_refuses_a_symlink_out_of_the_folder(site: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.env"
    secret.write_text("TOKEN=1")
    (site / "leak.env").symlink_to(secret)
    with pytest.raises(INPUT_REFUSED):
        inputs(path=str(site))


def test_refuses_a_zip_that_would_unpack_outside_the_bundle(tmp_path: Path) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("index.html", "<html></html>")
        out.writestr("../escape.js", "x")
    with pytest.raises(INPUT_REFUSED):
        inputs(path=str(archive))


def test_an_unreadable_key_is_refused_before_any_call(site: Path, tmp_path: Path) -> None:
    platform = FakePlatform()
    with pytest.raises(InputError, match="private-key-file"):
        live_update.run(inputs(path=str(site), private_key_file=str(tmp_path / "nope.pem")), make_ctx(platform))
    assert platform.calls == []
