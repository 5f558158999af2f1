"""The Capgo steps (live-update, deploy, rollout) on an in-memory Capgo: names, conflicts, the rollout
rules checked before any change, noops, dry runs, encryption keys never shown."""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from capawesome_ci.errors import CiError, ExitCode, InputError, NotFoundError
from capawesome_ci.platform import CloudPlatform
from capawesome_ci.result import StepResult
from capawesome_ci.steps.capgo import deploy, live_update, rollout
from capawesome_ci.steps.capgo.common import CapgoOperations
from capawesome_ci.steps.context import StepContext
from tests.fakes import RecordingReporter

APP = "com.example.app"
MUTATIONS = {"upload_bundle", "register_bundle", "set_stable", "start_rollout", "set_rollout_percentage"} | {
    "promote_rollout",
    "rollback_rollout",
    "pause_rollout",
}


@dataclass(frozen=True)
class FakeBundle:
    id: str
    name: str


@dataclass(frozen=True)
class FakeChannel:
    id: str
    name: str
    stable: str | None = None
    rollout_bundle: str | None = None
    rollout_bps: int = 0
    rollout_enabled: bool = False
    rollout_paused: bool = False

    @property
    def rollout_active(self) -> bool:
        return self.rollout_bundle is not None and self.rollout_enabled


@dataclass
class FakeCapgo(CloudPlatform):
    provider = "capgo"
    app_id: str = APP
    bundles: dict[str, FakeBundle] = field(default_factory=dict)
    channels: dict[str, FakeChannel] = field(default_factory=dict)
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    uploads: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    def _call(self, name: str, *args: Any) -> bool:
        """Record; True when the change is to be applied (not in a dry run)."""
        self.calls.append((name, args))
        return not self.dry_run

    @property
    def mutations(self) -> list[str]:
        return [name for name, _ in self.calls if name in MUTATIONS]

    def find_bundle(self, name: str) -> FakeBundle | None:
        self.calls.append(("find_bundle", (name,)))
        return self.bundles.get(name)

    def _new_bundle(self, name: str) -> FakeBundle:
        bundle = FakeBundle(id=str(len(self.bundles) + 1), name=name)
        self.bundles[name] = bundle
        return bundle

    def register_bundle(
        self, name: str, url: str, checksum: str, session_key: str | None = None, key_id: str | None = None
    ) -> FakeBundle:
        if not self._call("register_bundle", name, url, checksum):
            return FakeBundle("<planned>", name)
        return self._new_bundle(name)

    def upload_bundle(
        self,
        name: str,
        archive: Path,
        checksum: str,
        session_key: str | None = None,
        key_id: str | None = None,
        progress: Any = None,
    ) -> FakeBundle:
        if name in self.bundles:  # as the adapter's upload: Capgo's existence check, before any write
            raise InputError(f"bundle {name} already exists in app {self.app_id}", field="bundle")
        data = archive.read_bytes()
        self.uploads.append(
            {"name": name, "data": data, "checksum": checksum, "session_key": session_key, "key_id": key_id}
        )
        if progress is not None:
            progress(len(data), len(data))
        if not self._call("upload_bundle", name):
            return FakeBundle("<planned>", name)
        return self._new_bundle(name)

    def channel_state(self, name: str) -> FakeChannel | None:
        return self.channels.get(name)

    def _update(self, name: str, **changes: Any) -> None:
        channel = self.channels.get(name) or FakeChannel(id=str(len(self.channels) + 10), name=name)
        self.channels[name] = replace(channel, **changes)

    def set_stable(self, channel: str, bundle: str) -> None:
        if self._call("set_stable", channel, bundle):
            self._update(channel, stable=bundle)

    def start_rollout(self, channel: str, bundle: str, percentage: float) -> None:
        if self._call("start_rollout", channel, bundle, percentage):
            self._update(channel, rollout_bundle=bundle, rollout_bps=round(percentage * 100), rollout_enabled=True)

    def set_rollout_percentage(self, channel: str, percentage: float) -> None:
        if self._call("set_rollout_percentage", channel, percentage):
            self._update(channel, rollout_bps=round(percentage * 100), rollout_enabled=True)

    def promote_rollout(self, channel: str) -> None:
        if self._call("promote_rollout", channel):
            target = self.channels[channel].rollout_bundle
            self._update(channel, stable=target, rollout_bundle=None, rollout_bps=0, rollout_enabled=False)

    def rollback_rollout(self, channel: str) -> None:
        if self._call("rollback_rollout", channel):
            self._update(channel, rollout_bundle=None, rollout_bps=0, rollout_enabled=False, rollout_paused=False)

    def pause_rollout(self, channel: str, paused: bool) -> None:
        if self._call("pause_rollout", channel, paused):
            self._update(channel, rollout_paused=paused)


def _ctx(platform: FakeCapgo, dry_run: bool = False, environ: dict[str, str] | None = None) -> StepContext:
    platform.dry_run = dry_run
    return StepContext(
        platform=platform,
        reporter=RecordingReporter(),
        result=StepResult(command="test", dry_run=dry_run, app_id=APP),
        dry_run=dry_run,
        environ=dict(environ or {}),
    )


@pytest.fixture
def web(tmp_path: Path) -> Path:
    (tmp_path / "package.json").write_text(json.dumps({"name": "demo", "version": "1.4.2"}))
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<html>hello</html>")
    (dist / "assets" / "app.js").write_text("console.log('hi')")
    return dist


def _production(**changes: Any) -> dict[str, FakeChannel]:
    return {"production": FakeChannel(id="7", name="production", **changes)}


def test_the_fake_is_what_the_steps_expect() -> None:
    assert isinstance(FakeCapgo(), CapgoOperations)


# -- live-update ------------------------------------------------------------------------------------
def test_live_update_names_the_bundle_from_package_json_and_makes_it_stable(web: Path) -> None:
    platform = FakeCapgo(channels=_production(stable="1.0.0"))
    ctx = _ctx(platform)
    live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web, channel=["production"]), ctx)
    assert platform.mutations == ["upload_bundle", "set_stable"]
    assert platform.channels["production"].stable == "1.4.2"
    upload = platform.uploads[0]
    assert upload["checksum"] == hashlib.sha256(upload["data"]).hexdigest() == ctx.result.artifacts[0].sha256
    deployment = ctx.result.deployments[0]
    assert (deployment.bundle, deployment.bundle_role, deployment.rollout_percentage) == ("1.4.2", "stable", 100)
    assert deployment.rollout_percentage_bps == 10_000
    assert ctx.result.status == "succeeded"


def test_the_zip_is_the_same_bytes_for_the_same_tree(web: Path) -> None:
    datas = []
    for version in ("1.0.0", "1.0.1"):
        platform = FakeCapgo()
        live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web, bundle=version), _ctx(platform))
        datas.append(platform.uploads[0]["data"])
    assert datas[0] == datas[1]


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_taken_name_is_exit_2_before_anything_is_uploaded(web: Path, dry_run: bool) -> None:
    platform = FakeCapgo(bundles={"1.4.2": FakeBundle("3", "1.4.2")})
    with pytest.raises(InputError) as raised:
        live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web), _ctx(platform, dry_run))
    assert raised.value.exit_code == ExitCode.USAGE
    assert "1.4.2 already exists" in raised.value.message
    assert platform.uploads == [] and platform.mutations == []


def test_a_rollout_without_a_stable_bundle_is_refused_before_the_upload(web: Path) -> None:
    platform = FakeCapgo(channels=_production())
    inputs = live_update.LiveUpdateInputs(app_id=APP, path=web, channel=["production"], rollout=10)
    with pytest.raises(InputError, match="100 % first") as raised:
        live_update.run(inputs, _ctx(platform))
    assert raised.value.exit_code == ExitCode.USAGE
    assert platform.uploads == [] and platform.mutations == []


def test_live_update_at_10_percent_starts_a_rollout(web: Path) -> None:
    platform = FakeCapgo(channels=_production(stable="1.0.0"))
    ctx = _ctx(platform)
    live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web, channel="production", rollout="10%"), ctx)
    assert platform.calls[-1] == ("start_rollout", ("production", "1.4.2", 10.0))
    deployment = ctx.result.deployments[0]
    assert (deployment.bundle_role, deployment.rollout_percentage_bps) == ("rollout", 1000)


@pytest.mark.parametrize(("rollout", "bps"), [("99.995", 9999), ("99.999", 9999), ("0.001", 1), ("12.345", 1235)])
def test_a_share_below_100_stays_a_rollout_and_one_above_0_reaches_devices(web: Path, rollout: str, bps: int) -> None:
    """Capgo counts in basis points: rounding must not turn a canary into the stable bundle of every
    device (99.995 %), nor into a rollout nobody gets (0.001 %); what is reported is what was set."""
    platform = FakeCapgo(channels=_production(stable="1.0.0"))
    ctx = _ctx(platform)
    live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web, channel="production", rollout=rollout), ctx)
    assert platform.mutations == ["upload_bundle", "start_rollout"]
    assert platform.channels["production"].stable == "1.0.0"
    deployment = ctx.result.deployments[0]
    assert (deployment.bundle_role, deployment.rollout_percentage_bps) == ("rollout", bps)
    assert deployment.rollout_percentage == bps / 100


def test_a_missing_channel_fails_before_the_upload_unless_created(web: Path) -> None:
    platform = FakeCapgo()
    with pytest.raises(NotFoundError):
        live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web, channel=["beta"]), _ctx(platform))
    assert platform.uploads == []
    live_update.run(
        live_update.LiveUpdateInputs(app_id=APP, path=web, channel=["beta"], create_channel=True), _ctx(platform)
    )
    assert platform.channels["beta"].stable == "1.4.2"


def test_a_dry_run_uploads_and_changes_nothing(web: Path) -> None:
    platform = FakeCapgo(channels=_production(stable="1.0.0"))
    ctx = _ctx(platform, dry_run=True)
    live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web, channel=["production"]), ctx)
    assert platform.bundles == {} and platform.channels["production"].stable == "1.0.0"
    assert any(line.startswith("Would set bundle 1.4.2") for line in ctx.reporter.infos)  # type: ignore[attr-defined]


def test_a_bundle_name_that_is_not_semver_is_refused(web: Path, tmp_path: Path) -> None:
    with pytest.raises((InputError, ValueError)):
        live_update.LiveUpdateInputs(app_id=APP, path=web, bundle="v1")
    (tmp_path / "package.json").write_text(json.dumps({"version": "latest"}))
    with pytest.raises(InputError, match="semver"):
        live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web), _ctx(FakeCapgo()))


def test_a_self_hosted_url_is_registered_with_its_checksum(tmp_path: Path, web: Path) -> None:
    with pytest.raises(InputError, match="checksum"):
        live_update.LiveUpdateInputs(app_id=APP, url="https://cdn.example.com/b.zip", bundle="2.0.0")
    platform = FakeCapgo()
    digest = "ab" * 32
    inputs = live_update.LiveUpdateInputs(
        app_id=APP, url="https://cdn.example.com/b.zip", bundle="2.0.0", checksum=digest.upper()
    )
    live_update.run(inputs, _ctx(platform))
    assert platform.calls[-1] == ("register_bundle", ("2.0.0", "https://cdn.example.com/b.zip", digest))
    with pytest.raises(InputError, match="https"):
        live_update.LiveUpdateInputs(app_id=APP, url="http://cdn.example.com/b.zip", bundle="2.0.0", checksum=digest)


def test_a_checksum_that_contradicts_the_zip_given_with_it_is_refused(tmp_path: Path, web: Path) -> None:
    archive = tmp_path / "b.zip"
    with zipfile.ZipFile(archive, "w") as writer:
        writer.writestr("index.html", "<html>hello</html>")
    platform = FakeCapgo()
    inputs = live_update.LiveUpdateInputs(
        app_id=APP, url="https://cdn.example.com/b.zip", bundle="2.0.0", path=archive, checksum="00" * 32
    )
    with pytest.raises(InputError, match="checksum") as raised:
        live_update.run(inputs, _ctx(platform))
    assert raised.value.exit_code == ExitCode.USAGE and platform.mutations == []
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    inputs = live_update.LiveUpdateInputs(
        app_id=APP, url="https://cdn.example.com/b.zip", bundle="2.0.0", path=archive, checksum=digest
    )
    live_update.run(inputs, _ctx(platform))
    assert platform.calls[-1] == ("register_bundle", ("2.0.0", "https://cdn.example.com/b.zip", digest))


def _pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()


def test_an_encrypted_upload_masks_the_key_and_never_shows_it(web: Path) -> None:
    pem = _pem()
    platform = FakeCapgo()
    ctx = _ctx(platform, environ={live_update.KEY_ENV: pem})
    live_update.run(live_update.LiveUpdateInputs(app_id=APP, path=web), ctx)
    upload = platform.uploads[0]
    assert upload["session_key"] and upload["key_id"].startswith("MIIBCgKCAQEA")
    assert len(upload["checksum"]) == 512  # the RSA-encrypted checksum, hex
    assert pem in ctx.reporter.masks  # type: ignore[attr-defined]
    shown = ctx.reporter.text() + json.dumps(ctx.result.to_json_dict())  # type: ignore[attr-defined]
    assert not any(line in shown for line in pem.splitlines()[1:-1])


def test_an_unreadable_key_file_is_exit_2(web: Path, tmp_path: Path) -> None:
    inputs = live_update.LiveUpdateInputs(app_id=APP, path=web, encryption_key_file=tmp_path / "missing")
    with pytest.raises(InputError) as raised:
        live_update.run(inputs, _ctx(FakeCapgo()))
    assert raised.value.exit_code == ExitCode.USAGE


# -- deploy -----------------------------------------------------------------------------------------
def _deploy(platform: FakeCapgo, dry_run: bool = False, **given: Any) -> StepContext:
    ctx = _ctx(platform, dry_run)
    deploy.run(deploy.DeployInputs(app_id=APP, **given), ctx)
    return ctx


def test_deploy_at_100_of_the_rollout_target_promotes_it() -> None:
    platform = FakeCapgo(
        bundles={"1.1.0": FakeBundle("2", "1.1.0")},
        channels=_production(stable="1.0.0", rollout_bundle="1.1.0", rollout_bps=2500, rollout_enabled=True),
    )
    _deploy(platform, bundle="1.1.0", channel=["production"])
    assert platform.mutations == ["promote_rollout"]
    assert platform.channels["production"].stable == "1.1.0"


def test_deploy_again_is_a_noop() -> None:
    platform = FakeCapgo(bundles={"1.1.0": FakeBundle("2", "1.1.0")}, channels=_production(stable="1.0.0"))
    _deploy(platform, bundle="1.1.0", channel=["production"], rollout=25)
    ctx = _deploy(platform, bundle="1.1.0", channel=["production"], rollout=25)
    assert platform.mutations == ["start_rollout"]
    assert ctx.result.noop and ctx.result.deployments[0].noop
    _deploy(platform, bundle="1.1.0", channel=["production"], rollout=50)
    assert platform.mutations[-1] == "set_rollout_percentage"  # same target: the cohort is kept


def test_deploy_checks_every_channel_before_the_first_change() -> None:
    platform = FakeCapgo(
        bundles={"1.1.0": FakeBundle("2", "1.1.0")},
        channels={"a": FakeChannel("1", "a", stable="1.0.0"), "b": FakeChannel("2", "b")},
    )
    with pytest.raises(InputError, match="no stable bundle"):
        _deploy(platform, bundle="1.1.0", channel=["a", "b"], rollout=10)
    assert platform.mutations == []


def test_deploy_of_an_unknown_bundle_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        _deploy(FakeCapgo(channels=_production(stable="1.0.0")), bundle="9.9.9", channel=["production"])


def test_rolling_out_the_stable_bundle_itself_is_refused() -> None:
    platform = FakeCapgo(bundles={"1.0.0": FakeBundle("1", "1.0.0")}, channels=_production(stable="1.0.0"))
    with pytest.raises(InputError, match="already the stable bundle"):
        _deploy(platform, bundle="1.0.0", channel=["production"], rollout=10)


def test_the_stable_bundle_at_100_under_another_rollout_says_how_to_end_it() -> None:
    """Setting the stable bundle again would change nothing while another bundle rolls out."""
    platform = FakeCapgo(
        bundles={"1.0.0": FakeBundle("1", "1.0.0")},
        channels=_production(stable="1.0.0", rollout_bundle="1.1.0", rollout_bps=2500, rollout_enabled=True),
    )
    with pytest.raises(InputError, match=r"rolls out bundle 1\.1\.0 at 25 %: end that rollout with rollout --rollback"):
        _deploy(platform, bundle="1.0.0", channel=["production"])
    assert platform.mutations == []


def test_a_created_channel_is_reported_by_its_id() -> None:
    platform = FakeCapgo(bundles={"1.0.0": FakeBundle("1", "1.0.0")})
    ctx = _deploy(platform, bundle="1.0.0", channel=["beta"], create_channel=True)
    assert ctx.result.deployments[0].id == platform.channels["beta"].id != "beta"


def test_deploy_needs_a_channel() -> None:
    with pytest.raises(InputError):
        deploy.DeployInputs(app_id=APP, bundle="1.0.0")


# -- rollout ----------------------------------------------------------------------------------------
def _rolling(**changes: Any) -> FakeCapgo:
    base = {"stable": "1.0.0", "rollout_bundle": "1.1.0", "rollout_bps": 1000, "rollout_enabled": True}
    return FakeCapgo(channels=_production(**{**base, **changes}))


def _rollout(platform: FakeCapgo, dry_run: bool = False, **given: Any) -> StepContext:
    ctx = _ctx(platform, dry_run)
    rollout.run(rollout.RolloutInputs(app_id=APP, channel="production", **given), ctx)
    return ctx


def test_rollout_percentage_changes_then_is_a_noop() -> None:
    platform = _rolling()
    ctx = _rollout(platform, percentage="50%")
    assert platform.calls[-1] == ("set_rollout_percentage", ("production", 50.0))
    assert ctx.result.deployments[0].rollout_percentage_bps == 5000
    assert ctx.result.deployments[0].bundle == "1.1.0"
    assert _rollout(platform, percentage=50).result.noop


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_without_a_rollout_says_capgo_has_no_channel_pause(action: str) -> None:
    platform = FakeCapgo(channels=_production(stable="1.0.0"))
    with pytest.raises(InputError, match="no whole-channel pause") as raised:
        _rollout(platform, **{action: True})
    assert raised.value.exit_code == ExitCode.USAGE


def test_pause_and_resume_the_rollout() -> None:
    platform = _rolling()
    _rollout(platform, pause=True)
    assert platform.calls[-1] == ("pause_rollout", ("production", True))
    assert _rollout(platform, pause=True).result.noop
    _rollout(platform, resume=True)
    assert platform.calls[-1] == ("pause_rollout", ("production", False))
    assert _rollout(platform, resume=True).result.noop


def test_promote_and_rollback() -> None:
    platform = _rolling()
    ctx = _rollout(platform, promote=True)
    assert platform.channels["production"].stable == "1.1.0"
    assert (ctx.result.deployments[0].bundle, ctx.result.deployments[0].bundle_role) == ("1.1.0", "stable")
    assert _rollout(platform, promote=True).result.noop  # a re-run: nothing left to promote
    platform = _rolling()
    _rollout(platform, rollback=True)
    assert platform.channels["production"].rollout_bundle is None
    assert platform.channels["production"].stable == "1.0.0"


def test_a_dry_run_rollout_changes_nothing() -> None:
    platform = _rolling()
    ctx = _rollout(platform, dry_run=True, promote=True)
    assert platform.channels["production"].stable == "1.0.0"
    assert ctx.reporter.infos[-1].startswith("Would promote")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "given",
    [{}, {"percentage": 10, "promote": True}, {"pause": True, "resume": True}],
)
def test_exactly_one_rollout_action(given: dict[str, Any]) -> None:
    with pytest.raises((InputError, ValueError)):
        rollout.RolloutInputs(app_id=APP, channel="production", **given)


def test_a_missing_channel_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        _rollout(FakeCapgo(), percentage=10)


def test_percentage_on_a_channel_without_a_rollout_says_how_to_start_one() -> None:
    with pytest.raises(InputError, match="deploy --rollout"):
        _rollout(FakeCapgo(channels=_production(stable="1.0.0")), percentage=10)


def test_needs() -> None:
    inputs = live_update.LiveUpdateInputs(app_id=APP, url="https://x.example/b.zip", bundle="1.0.0", checksum="a" * 64)
    assert [c.value for c, _ in live_update.needs(inputs)] == ["live-update"]
    assert all(isinstance(error, type) and issubclass(error, CiError) for error in (InputError, NotFoundError))
