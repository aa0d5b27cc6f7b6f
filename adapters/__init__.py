"""I/O towards the outside world: one module per protocol or file format."""
