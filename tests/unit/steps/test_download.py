"""steps/download.py in-process against FakePlatform: selection, atomic writes, sha256, resuming."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from capawesome_ci.errors import ExitCode, InputError, LocalIOError, NotFoundError, TransientError
from capawesome_ci.steps import download
from capawesome_ci.steps.download import DOWNLOAD_ATTEMPTS, DownloadInputs
from tests.fakes import INPUT_REFUSED, FakePlatform, RecordingReporter, make_ctx

APK = bytes(range(256)) * 40  # 10 240 bytes
AAB = b"aab-bytes" * 1000


def inputs(output_dir: Path, **given: Any) -> DownloadInputs:
    return DownloadInputs.model_validate({"app_id": "app-1", "output_dir": str(output_dir), **given})


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def reporter_of(ctx: Any) -> RecordingReporter:
    assert isinstance(ctx.reporter, RecordingReporter)
    return ctx.reporter


def test_downloads_every_ready_artifact_with_its_sha256(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, file_name="app-release.apk")
    platform.add_artifact(build, "aab", AAB, file_name="app-release.aab")
    platform.add_artifact(build, "zip", b"not yet", status="pending")
    ctx = make_ctx(platform)
    download.run(inputs(tmp_path / "out", build_id=build.id), ctx)

    out = tmp_path / "out"
    assert (out / "app-release.apk").read_bytes() == APK
    assert (out / "app-release.aab").read_bytes() == AAB
    assert [(a.type, a.size, a.sha256, a.path) for a in ctx.result.artifacts] == [
        ("apk", len(APK), sha256(APK), str(out / "app-release.apk")),
        ("aab", len(AAB), sha256(AAB), str(out / "app-release.aab")),
    ]
    assert sorted(os.listdir(out)) == ["app-release.aab", "app-release.apk"]  # no .part left behind
    assert any("skipping zip" in w for w in reporter_of(ctx).warnings)
    assert ctx.result.status == "succeeded"
    assert reporter_of(ctx).progress_calls[-1] == ("app-release.aab", len(AAB), len(AAB))


def test_the_file_appears_under_its_name_only_when_complete(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    target = tmp_path / "app.apk"
    seen: list[tuple[bool, list[str]]] = []

    def on_read() -> None:
        seen.append((target.exists(), [name for name in os.listdir(tmp_path) if name.endswith(".part")]))

    platform.add_artifact(build, "apk", APK, file_name="app.apk", on_read=on_read)
    download.run(inputs(tmp_path, build_id=build.id), make_ctx(platform))

    assert seen and all(not exists for exists, _ in seen)
    assert all(len(parts) == 1 and parts[0].startswith(".app.apk.") for _, parts in seen)
    assert target.read_bytes() == APK
    assert not any(name.endswith(".part") for name in os.listdir(tmp_path))


def test_a_broken_transfer_resumes_from_where_it_stopped(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, file_name="app.apk", breaks=[5000, 9000])
    ctx = make_ctx(platform)
    download.run(inputs(tmp_path, build_id=build.id), ctx)

    assert [call.kwargs["start"] for call in platform.called("open_artifact")] == [0, 5000, 9000]
    assert (tmp_path / "app.apk").read_bytes() == APK
    assert ctx.result.artifacts[0].sha256 == sha256(APK)
    assert len(reporter_of(ctx).warnings) == 2
    assert "interrupted at 5000 bytes" in reporter_of(ctx).warnings[0]


def test_a_server_that_ignores_the_range_restarts_the_file(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, file_name="app.apk", breaks=[3000], honour_range=False)
    ctx = make_ctx(platform)
    download.run(inputs(tmp_path, build_id=build.id), ctx)
    assert [call.kwargs["start"] for call in platform.called("open_artifact")] == [0, 3000]
    assert (tmp_path / "app.apk").read_bytes() == APK  # not the first 3000 bytes twice
    assert ctx.result.artifacts[0].sha256 == sha256(APK)


def test_breaks_without_progress_give_up_with_75_and_leave_nothing(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, file_name="app.apk", breaks=[100] * 10)
    ctx = make_ctx(platform)
    with pytest.raises(TransientError) as raised:
        download.run(inputs(tmp_path, build_id=build.id), ctx)
    assert raised.value.exit_code == ExitCode.TRANSIENT
    assert f"{DOWNLOAD_ATTEMPTS} attempts in a row without progress" in raised.value.message
    assert os.listdir(tmp_path) == []
    # It backed off between the attempts, on the virtual clock.
    assert len(platform.called("open_artifact")) == DOWNLOAD_ATTEMPTS


def test_a_size_that_disagrees_with_the_listing_is_an_io_error(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, file_name="app.apk", size=len(APK) + 1)
    with pytest.raises(LocalIOError) as raised:
        download.run(inputs(tmp_path, build_id=build.id), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.IO
    assert os.listdir(tmp_path) == []


def test_only_the_asked_types_are_downloaded(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, file_name="app.apk")
    platform.add_artifact(build, "aab", AAB, file_name="app.aab")
    ctx = make_ctx(platform)
    download.run(inputs(tmp_path, build_number=build.number, type=".AAB"), ctx)
    assert os.listdir(tmp_path) == ["app.aab"]
    assert [a.type for a in ctx.result.artifacts] == ["aab"]


def test_a_missing_type_is_not_found_and_names_what_there_is(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK)
    with pytest.raises(NotFoundError) as raised:
        download.run(inputs(tmp_path, build_id=build.id, type="ipa"), make_ctx(platform))
    assert raised.value.exit_code == ExitCode.NOT_FOUND
    assert "(available: apk)" in raised.value.message
    assert not platform.called("open_artifact")


def test_an_asked_type_that_is_not_ready_is_not_found(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK, status="processing")
    with pytest.raises(NotFoundError, match="not ready"):
        download.run(inputs(tmp_path, build_id=build.id, type="apk"), make_ctx(platform))


def test_no_ready_artifact_at_all_is_not_found(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    with pytest.raises(NotFoundError, match="no ready artifacts"):
        download.run(inputs(tmp_path, build_id=build.id), make_ctx(platform))


def test_names_from_the_server_stay_inside_the_folder_and_do_not_collide(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("ios")
    platform.add_artifact(build, "ipa", b"one", file_name="../../evil/App.ipa")
    platform.add_artifact(build, "ipa", b"two", file_name="app.ipa")  # the same name on a case-folding FS
    platform.add_artifact(build, "dsym", b"three", file_name=None)
    ctx = make_ctx(platform)
    out = tmp_path / "out"
    download.run(inputs(out, build_id=build.id), ctx)
    assert sorted(os.listdir(out)) == ["App.ipa", "app-2.ipa", f"build-{build.number}.dSYM.zip"]
    assert (out / "App.ipa").read_bytes() == b"one"
    assert (out / "app-2.ipa").read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_empty_artifact_is_written_too(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("web")
    platform.add_artifact(build, "zip", b"", file_name="empty.zip")
    ctx = make_ctx(platform)
    download.run(inputs(tmp_path, build_id=build.id), ctx)
    assert (tmp_path / "empty.zip").read_bytes() == b""
    assert ctx.result.artifacts[0].sha256 == sha256(b"")


def test_dry_run_downloads_nothing(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK)
    ctx = make_ctx(platform, dry_run=True)
    download.run(inputs(tmp_path / "out", build_id=build.id), ctx)
    assert not platform.called("open_artifact")
    assert not (tmp_path / "out").exists()
    assert ctx.result.artifacts == []
    assert any(info.startswith("dry run: would download apk") for info in reporter_of(ctx).infos)


def test_an_output_dir_that_cannot_be_created_is_an_io_error(tmp_path: Path) -> None:
    platform = FakePlatform()
    build = platform.add_build("android")
    platform.add_artifact(build, "apk", APK)
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    with pytest.raises(LocalIOError, match="--output-dir"):
        download.run(inputs(blocker / "out", build_id=build.id), make_ctx(platform))
    assert not platform.called("open_artifact")


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"build_id": "b", "build_number": "1"},
        {"build_id": "b", "type": "exe"},
        {"build_number": "one"},
        {"build_id": "b", "stall_timeout": "0"},
        {"build_id": "b", "timeout": "forever"},
    ],
)
def test_refuses_bad_inputs(tmp_path: Path, given: dict[str, Any]) -> None:
    with pytest.raises(INPUT_REFUSED):
        inputs(tmp_path, **given)


def test_needs_an_app_id_before_any_call(tmp_path: Path) -> None:
    platform = FakePlatform()
    with pytest.raises(InputError, match="--app-id"):
        download.run(DownloadInputs.model_validate({"build_id": "b", "output_dir": str(tmp_path)}), make_ctx(platform))
    assert platform.calls == []
