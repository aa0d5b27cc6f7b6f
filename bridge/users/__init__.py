"""People who use the web page and the API (pure): user names and roles, password hashes,
API tokens and session ids, the login rate limit.

No I/O here: the store keeps users, tokens and sessions (`bridge.store.users`), the web
middleware asks it (`bridge.web.auth`), the command line manages them
(`bridge.cli.users`).  docs/auth.md describes the whole.
"""
