"""The command catalog and the command bodies, one module per family."""
