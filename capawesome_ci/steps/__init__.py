"""The CI steps, platform-free: each takes one validated inputs model, talks to a
`CloudPlatform` and a `Reporter`, and fills one `StepResult`."""
