"""Build sources, as the official CLI creates them for `apps:builds:create --path/--url` (api
reference §5.2): `POST {app}/build-sources` with `{fileSizeInBytes}` then the multipart upload of
`source.zip` (always multipart, like the CLI), or `{fileUrl}` for a zip served elsewhere. The POST
is never repeated blindly; a failure after the source exists says so."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from capawesome_ci.cloud.api import Api
from capawesome_ci.cloud.bundles import multipart_upload
from capawesome_ci.cloud.paths import segment
from capawesome_ci.errors import CiError, LocalIOError

SOURCE_FILE_NAME = "source.zip"


def create_source_from_url(api: Api, app_path: str, url: str) -> str:
    """The build source's id."""
    return api.object("POST", f"{app_path}/build-sources", json={"fileUrl": url}).id("id")


def upload_source(api: Api, app_path: str, archive: Path, progress: Callable[[int, int], None] | None) -> str:
    """Create the build source for `archive` and upload it; the build source's id."""
    try:
        size = archive.stat().st_size
    except OSError as error:
        raise LocalIOError(f"cannot read {archive}: {error.strerror or error}") from None
    source_id = api.object("POST", f"{app_path}/build-sources", json={"fileSizeInBytes": size}).id("id")
    upload_path = f"{app_path}/build-sources/{segment(source_id)}/upload"
    try:
        try:
            multipart_upload(
                api,
                upload_path,
                archive,
                size,
                None if progress is None else lambda done: progress(done, size),
                file_name=SOURCE_FILE_NAME,
            )
        except OSError as error:  # a given .zip went away (or became unreadable) meanwhile
            raise LocalIOError(f"cannot read {archive} to upload it: {error.strerror or error}") from None
    except CiError as error:
        error.append(f" (build source {source_id} was created but its upload did not finish; no build was started)")
        raise
    return source_id
