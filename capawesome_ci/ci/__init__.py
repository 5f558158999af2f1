"""Where results go: one reporter per CI system (local terminal here; GitHub, GitLab, Bitbucket later)."""
