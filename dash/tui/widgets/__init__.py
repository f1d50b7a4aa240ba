"""One module per dashboard component."""
