"""The lines of an emulated job's log: the milestones of its template (`LOG_TEMPLATES` in state.py),
and between them as many progress lines as the job's length asks for, each written once, so a
log of any length reads like one real run rather than the template over and over.

`log_line(milestones, template, count, number)` is line `number` (from 1) of a body of `count`
lines: with at most as many lines as milestones, the first milestones; otherwise the milestones in
order, the extra lines shared out evenly after each one and worded after the phase it starts
(fetching packages after `npm ci`, Gradle tasks during the build, compiling sources under
xcodebuild, …).
"""

from __future__ import annotations

_PACKAGES = (
    "@capacitor/core", "@capacitor/cli", "@capacitor/android", "@capacitor/ios", "@capacitor/app",
    "@capacitor/haptics", "@capacitor/keyboard", "@capacitor/status-bar", "@capawesome/capacitor-live-update",
    "typescript", "vite", "esbuild", "rollup", "postcss", "autoprefixer", "tslib", "zone.js", "rxjs",
    "@ionic/core", "ionicons", "@stencil/core", "eslint", "prettier", "vitest", "picocolors", "semver",
)  # fmt: skip
_MODULES = (
    "app",
    "capacitor-android",
    "capacitor-app",
    "capacitor-haptics",
    "capacitor-keyboard",
    "capawesome-live-update",
)
_TASKS = (
    "generateReleaseBuildConfig", "generateReleaseResValues", "compileReleaseKotlin", "mergeReleaseAssets",
    "bundleReleaseClassesToCompileJar", "mergeReleaseJniLibFolders", "extractReleaseNativeSymbolTables",
    "optimizeReleaseResources", "mergeDexRelease", "lintVitalAnalyzeRelease", "signReleaseBundle",
)  # fmt: skip
_SOURCES = (
    "AppDelegate", "SceneDelegate", "CAPBridgeViewController", "CAPPlugin", "CAPBridge", "WebViewDelegationHandler",
    "KeyboardPlugin", "StatusBarPlugin", "HapticsPlugin", "AppPlugin", "LiveUpdatePlugin", "JSExport", "CAPLog",
    "CAPInstanceDescriptor", "CAPNotifications", "CapacitorCordova", "Router", "WebViewAssetHandler",
)  # fmt: skip
_WEB_FILES = (
    "src/main.ts", "src/App.vue", "src/router/index.ts", "src/views/HomePage.vue", "src/views/SettingsPage.vue",
    "src/components/Header.vue", "src/components/ItemList.vue", "src/stores/session.ts", "src/api/client.ts",
    "src/theme/variables.css", "src/utils/format.ts", "src/plugins/live-update.ts", "src/i18n/en.json",
)  # fmt: skip


def _nth(names: tuple[str, ...], k: int) -> str:
    """The k-th distinct name: the list, then again with a numbered suffix."""
    name = names[k % len(names)]
    return name if k < len(names) else f"{name}-{k // len(names) + 1}"


def _phase(milestone: str, template: str) -> str:
    """Which kind of progress follows `milestone`."""
    if "npm ci" in milestone or milestone.startswith("added "):
        return "npm"
    if milestone.startswith("Cloning"):
        return "git"
    if "cap sync" in milestone:
        return "sync"
    return template


def _progress(phase: str, template: str, k: int) -> str:
    """Progress line `k` (from 0, counted over the whole log) of `phase`; distinct for every k."""
    if phase == "npm":
        return f"npm http fetch GET 200 https://registry.npmjs.org/{_nth(_PACKAGES, k)} {12 + k * 7 % 90}ms (cache hit)"
    if phase == "git":
        return f"Receiving objects: {min(100, 3 + k * 11)}% ({k + 1}/{k + 1 + 412 * (k + 1)}), {k * 37 % 900 + 64} KiB"
    if phase == "sync":
        return f"✔ Updating {template} plugin {_nth(_PACKAGES[4:9], k)} in {3 + k % 40}ms"
    if phase == "android":
        return f"> Task :{_MODULES[k % len(_MODULES)]}:{_nth(_TASKS, k // len(_MODULES))}"
    if phase == "ios":
        return f"SwiftCompile normal arm64 {_nth(_SOURCES, k)}.swift (in target 'App' from project 'App')"
    if phase == "web":
        return f"transforming ({k + 1}) {_nth(_WEB_FILES, k)}"
    if phase == "deployment":
        return f"Uploading the binary: part {k + 1} sent"
    return f"{phase} ({k + 1})"


def log_line(milestones: tuple[str, ...], template: str, count: int, number: int) -> str:
    """Line `number` (1 to `count`) of a log body of `count` lines built on `milestones`."""
    m = len(milestones)
    if count <= m:
        return milestones[number - 1]
    extra = count - m
    index = number - 1
    before: dict[str, int] = {}  # progress lines so far, by phase
    for i in range(m):  # milestone i starts at i + extra * i // m, followed by its share of the extra lines
        start, share = i + extra * i // m, extra * (i + 1) // m - extra * i // m
        phase = _phase(milestones[i], template)
        if index == start:
            return milestones[i]
        if index <= start + share:
            return _progress(phase, template, before.get(phase, 0) + index - start - 1)
        before[phase] = before.get(phase, 0) + share
    return milestones[-1]
