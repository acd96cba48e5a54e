"""kyodo's core: the grant-call record, normalization, storage.

Everything else (spiders, api, digest, the CLI) imports this package; it imports none of them.
"""
