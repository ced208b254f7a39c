"""Project tools run by the Makefile (``python -m tools.<name>``), outside the deployed package."""
