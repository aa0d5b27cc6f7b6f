"""The daemon's web side: the page for operators and crews, the JSON API, health and metrics
(`server` puts the application together from a `app_context.WebContext` and features;
docs/api.md)."""
