"""The ``ernie-traffic`` command line: a thin typer layer that parses, validates and calls the library."""
