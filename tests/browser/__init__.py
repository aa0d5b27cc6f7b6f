"""The real-browser tests (a package: their daemon lives as long as they run, not the session)."""
