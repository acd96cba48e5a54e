"""Weekly tailored e-mail digests for groups, reading through `aggregator`."""
