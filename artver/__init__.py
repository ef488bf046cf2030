"""artver: version large artifacts (models, datasets, checkpoints) in lockstep with Git."""

__version__ = "0.1.0"
