"""What runs inside Airflow's own environment: the notifier and the plugin.

Nothing here imports slack_hitl's core (it needs SQLAlchemy 2 and more that Airflow pins
differently); both talk to the bridge over HTTP only.
"""
