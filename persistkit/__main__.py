"""`python -m persistkit` runs the command line (same as the `persistkit` script)."""

from persistkit.cli import main

main()
