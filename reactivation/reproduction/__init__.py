"""The stages of ``reactivation reproduce``, one module each, which :mod:`reactivation.pipeline` runs in order.

- :mod:`~reactivation.reproduction.configs`: the configs each stage reads, derived from the reproduce config;
- :mod:`~reactivation.reproduction.train`: which runs are missing, and the training multiruns that make them;
- :mod:`~reactivation.reproduction.analyse`: every analysis of every seed, computed or reused, or read from disk;
- :mod:`~reactivation.reproduction.draw`: every figure of every family;
- :mod:`~reactivation.reproduction.reporting`: what the report says about the runs, the settings and the claims.
"""
