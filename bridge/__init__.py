"""gridbridge: the daemon that links a district's cameras to its governance grid."""

__version__ = "0.1.0"
