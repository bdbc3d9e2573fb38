"""ScarView batch layer."""
