"""Judging: video quality diagnosis, verdicts from observations, the daemon's own health."""
