"""`gridbridge demo`: the sample district (shipped in ``district/``), simulated cameras, an
embedded broker, SQLite in a temporary directory and the daemon, in one command."""
