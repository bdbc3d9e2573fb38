"""ScarView report layer."""
