"""The package version (one place: read by probsnn/__init__.py and written into fit files)."""
__version__ = "0.1.0"
