"""Where the demo runs unless told otherwise (kept apart so ``slack-hitl --help`` imports nothing heavy)."""

DEFAULT_PORT = 8800
DEFAULT_DEMO_DATABASE_URL = "sqlite:///slack_hitl_demo.db"
"""A SQLite file in the working directory; it keeps the decision trace after the demo stops."""
