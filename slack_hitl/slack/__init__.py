"""Slack I/O: Block Kit rendering, modals, signatures, the rate-limited client, streaming."""
