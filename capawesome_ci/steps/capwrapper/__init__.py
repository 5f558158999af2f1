"""The steps on Capwrapper (providers.py names these modules and models), where the concepts differ:

- no app id (builds belong to the API key): the models need none and refuse one;
- a build is made from a live web app (`--url`, `--app-name`, `--bundle-id`, `--version`,
  `--permission`), not from a git ref for a platform: its own model, not Capawesome's (whose
  `--platform`, certificates, stacks, variables and channels mean nothing here);
- no build numbers: a build is picked by `--build-id` or as the newest of a `--bundle-id`;
- no logs: a failed build's `error` is the message and the summary's failure section;
- deploy goes to a store (`--destination google-play|app-store`) with `--deploy-field` pass-through.

Following, downloading and the result are the neutral steps' (`follow_job`, `download_artifacts`).
"""
