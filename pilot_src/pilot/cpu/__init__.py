"""The CPU power of the node: DB12, its node cache, and ``--benchmark``."""
