"""live-update preparation: deterministic zips, keys, signatures (checked with openssl), bad input."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from capawesome_ci.cli import main
from capawesome_ci.errors import InputError
from capawesome_ci.steps.bundle import (
    MANIFEST_NAME,
    load_private_key,
    normalise_pem,
    sha256_of,
    sign_digest,
    write_zip,
)
from tests.conftest import make_site

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


SITE: dict[str, bytes | str] = {
    "index.html": "<!doctype html><script src=assets/app.js></script>",
    "assets/app.js": bytes(range(256)) * 100,
    "assets/img/logo.png": b"\x89PNG" + b"\0" * 50,
    ".DS_Store": b"junk",  # never zipped
}


def openssl(*args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, input=input).stdout


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(folder / "key.pem"))
    openssl("pkey", "-in", str(folder / "key.pem"), "-pubout", "-out", str(folder / "public.pem"))
    openssl(
        "pkey",
        "-in",
        str(folder / "key.pem"),
        "-aes256",
        "-passout",
        "pass:s3cret",
        "-out",
        str(folder / "encrypted.pem"),
    )
    return folder


def test_zip_is_deterministic_and_android_friendly(tmp_path: Path) -> None:
    site = make_site(tmp_path / "www", SITE)
    warnings: list[str] = []
    write_zip(site, tmp_path / "a.zip", warnings.append)
    (site / "assets" / "app.js").touch()  # a new mtime must not change the bytes
    write_zip(site, tmp_path / "b.zip", warnings.append)
    assert sha256_of(tmp_path / "a.zip") == sha256_of(tmp_path / "b.zip")
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        names = archive.namelist()
        assert names == ["assets/app.js", "assets/img/logo.png", "index.html"]
        assert all(info.external_attr == 0 and info.date_time == (1980, 1, 1, 0, 0, 0) for info in archive.infolist())
        assert archive.read("assets/app.js") == (site / "assets" / "app.js").read_bytes()


def test_symlinks_inside_the_folder_are_zipped_as_their_file(tmp_path: Path) -> None:
    site = make_site(tmp_path / "www", SITE)
    (site / "link.js").symlink_to(site / "assets" / "app.js")
    write_zip(site, tmp_path / "a.zip", lambda _: None)
    with zipfile.ZipFile(tmp_path / "a.zip") as archive:
        assert archive.read("link.js") == (site / "assets" / "app.js").read_bytes()
        assert archive.getinfo("link.js").external_attr == 0  # a plain file entry, not a link


def test_symlinks_out_of_the_folder_are_refused(tmp_path: Path) -> None:
    site = make_site(tmp_path / "www", SITE)
    (site / "link.js").symlink_to(tmp_path)
    with pytest.raises(InputError, match=r"link\.js is a symlink to .*, outside the folder"):
        write_zip(site, tmp_path / "a.zip", lambda _: None)


def test_signature_verifies_with_openssl(tmp_path: Path, keys: Path) -> None:
    payload = tmp_path / "bundle.zip"
    payload.write_bytes(b"bundle bytes " * 1000)
    checksum, _ = sha256_of(payload)
    signature = sign_digest(load_private_key((keys / "key.pem").read_text(), None), checksum)
    (tmp_path / "sig").write_bytes(base64.b64decode(signature))
    verified = openssl(
        "dgst", "-sha256", "-verify", str(keys / "public.pem"), "-signature", str(tmp_path / "sig"), str(payload)
    )
    assert b"Verified OK" in verified
    # The same as the official CLI's recipe: openssl dgst -sha256 -sign key.pem FILE | base64 -w0
    assert (
        base64.b64encode(openssl("dgst", "-sha256", "-sign", str(keys / "key.pem"), str(payload))).decode() == signature
    )


def test_pem_without_line_breaks_and_encrypted_keys(keys: Path) -> None:
    pem = (keys / "key.pem").read_text()
    one_line = " ".join(pem.split("\n"))
    assert normalise_pem(one_line) == normalise_pem(pem)
    assert load_private_key(one_line, None).key_size == 2048
    assert load_private_key((keys / "encrypted.pem").read_text(), "s3cret").key_size == 2048
    with pytest.raises(InputError, match="wrong passphrase"):
        load_private_key((keys / "encrypted.pem").read_text(), "wrong")
    with pytest.raises(InputError, match="encrypted"):
        load_private_key((keys / "encrypted.pem").read_text(), None)
    with pytest.raises(InputError, match="not a PEM"):
        load_private_key("hello", None)


def test_manifest_mode_never_writes_into_the_folder(tmp_path: Path) -> None:
    site = make_site(tmp_path / "www", SITE)
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    code = main(["--sandbox", "--dry-run", "live-update", "--path", str(site), "--artifact-type", "manifest"])
    assert code == 0
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before
    assert not (site / MANIFEST_NAME).exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--path", "missing-folder"], "invalid --path: missing-folder does not exist"),
        (["--path", "no-index"], "has no index.html"),
        (["--path", "www", "--private-key-file", "nokey.pem"], "invalid --private-key-file"),
        (["--path", "www", "--private-key-file", "encrypted.pem"], "invalid private key"),
        (["--path", "www", *[a for i in range(11) for a in ("--custom-property", f"k{i}=v")]], "at most 10"),
        (["--path", "www", "--rollout", "120"], "invalid --rollout"),
        (["--url", "http://example.com/b.zip"], "invalid --url"),
        ([], "missing --path"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    args: list[str],
    expected: str,
    tmp_path: Path,
    keys: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    make_site(tmp_path / "www", SITE)
    (tmp_path / "no-index").mkdir()
    shutil.copy(keys / "encrypted.pem", tmp_path / "encrypted.pem")
    monkeypatch.setenv("CAPAWESOME_PRIVATE_KEY_PASSPHRASE", "not-it")
    code = main(["--sandbox", "live-update", *args])
    err = capsys.readouterr().err.strip().splitlines()
    lines = [line for line in err if not line.startswith(("Sandbox:", "warning:"))]
    assert code == 2, err
    assert len(lines) == 1 and expected in lines[0], err


def test_key_lines_never_appear_in_output(tmp_path: Path, keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = make_site(tmp_path / "www", SITE)
    pem = (keys / "key.pem").read_text()
    code = main(
        [
            "--sandbox",
            "--dry-run",
            "--debug",
            "--json",
            "live-update",
            "--path",
            str(site),
            "--private-key-file",
            str(keys / "key.pem"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for line in pem.splitlines()[1:-1]:
        assert line not in captured.out + captured.err
    assert hashlib.sha256(b"").hexdigest() not in captured.out  # sanity: real checksums were computed
