# The two commands of README.md. Each installs what it needs first.
.PHONY: demo test setup

setup:
	@scripts/setup.sh

demo: setup
	.venv/bin/slack-hitl demo

test: setup
	@scripts/test.sh
