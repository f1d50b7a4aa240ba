"""The terminal dashboard (Textual): renders snapshots, turns keys into engine commands."""
