"""Pure computation: photos in, measurements out. No Qt, no SQLite, no printing."""
