"""kasmos workers: one sub-package per worker kind, each pure logic plus a thin worker shell."""
