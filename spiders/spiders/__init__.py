"""One module per source; the module name is the spider's `name` (see spiders/settings.py)."""
