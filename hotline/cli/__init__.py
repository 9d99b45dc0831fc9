"""The `hotline` command: every subcommand in one package, one module per group."""
