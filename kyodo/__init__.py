"""The `kyodo` command line: one console script with subcommands over kyodo's packages."""

__version__ = "0.1.0"
