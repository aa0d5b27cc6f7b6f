"""The daemon's HTTP side: the API for operators' and crews' pages (issue 7 adds the pages)."""
