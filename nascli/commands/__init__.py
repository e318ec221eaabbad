"""Command bodies: `run(ctx)` for each `nas` subcommand (imported only when it runs)."""
