"""Analysis accuracy/speed benchmark (``make bench``): see README.md in this folder."""
