"""chatops stage."""
