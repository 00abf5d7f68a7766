"""A runnable stand-in of the AMC-TRADER platform, with fault injection."""
