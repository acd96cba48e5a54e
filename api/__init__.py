"""kyodo's web face (FastAPI): search pages and the JSON API, reading through `aggregator`."""
