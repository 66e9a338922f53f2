"""Git worker: worktrees, branches, naming, dirty checks, diff stats."""
