"""ScarView store layer."""
