"""slack_hitl: human-in-the-loop approvals in Slack."""
