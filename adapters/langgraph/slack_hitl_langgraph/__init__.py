"""slack_hitl adapter."""
