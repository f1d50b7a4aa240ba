"""Tests against real servers from Debian packages (Prometheus, node_exporter), skipped
with a reason when a binary is not installed."""
