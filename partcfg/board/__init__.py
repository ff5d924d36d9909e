"""Board descriptions (device trees, x86 snapshots): readers, checks against a system, and a starting system from a board."""
