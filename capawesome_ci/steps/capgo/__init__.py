"""The steps on Capgo (providers.py names these modules), where the concepts differ from the neutral
steps: Capgo deploys *bundles* (semver names, never reused) to channels, each channel with a stable
bundle and at most one rollout target, and pauses only a rollout, never a whole channel.

- live-update: zip (and optionally encrypt) a web build, upload it as a named bundle (Capgo-hosted,
  or a self-hosted `--url`), then deploy it to channels;
- deploy: an existing bundle to channels — 100 % makes it the stable bundle, less starts a rollout;
- rollout: change, promote, roll back, pause or resume a channel's rollout.

They talk to the adapter through `common.CapgoOperations` (steps do not import cloud/).
"""
