"""The `kas` command line (typer). Heavy modules are imported inside the commands that need them."""
