"""How each front end names an input, so an error names it the way its user typed it:
`--rollout` on the command line, `rollout` as a GitHub action input, `ROLLOUT` as a pipe variable."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Naming:
    kind: str  # "flag", "input" or "variable": the word before a name in "invalid input rollout"
    # Inputs whose name on this front end is not the usual one (pipe: token → CAPAWESOME_CLOUD_TOKEN).
    special: dict[str, str] = field(default_factory=dict)

    def name(self, field_name: str) -> str:
        """`field_name` (a model field, e.g. `create_channel`) as this front end writes it."""
        if field_name in self.special:
            return self.special[field_name]
        if self.kind == "flag":
            return "--" + field_name.replace("_", "-")
        if self.kind == "input":
            return field_name.replace("_", "-")
        return field_name.upper().replace("-", "_")

    def label(self, field_name: str) -> str:
        """The name with its kind, to open a message: `--rollout`, `input rollout`, `variable ROLLOUT`."""
        name = self.name(field_name)
        return name if self.kind == "flag" else f"{self.kind} {name}"


FLAGS = Naming("flag")
INPUTS = Naming("input")
# A pipe's token is the provider's own variable; its `path` cannot be PATH, which is the shell's.
VARIABLES = Naming("variable", {"token": "CAPAWESOME_CLOUD_TOKEN", "path": "BUNDLE_PATH"})
