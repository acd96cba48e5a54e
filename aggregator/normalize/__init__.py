"""Normalization of Japanese grant-call text: pure functions, one module per attribute.

`normalize_call` (in `pipeline`) ties them together; import it from there so that using one
parser does not load the others.
"""
