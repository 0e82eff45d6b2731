"""characterlab: a laboratory for the characters that language models play."""

__version__ = "0.1.0"

__all__ = ["__version__"]
