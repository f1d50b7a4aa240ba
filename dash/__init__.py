"""healthdash: a terminal health dashboard for people on call."""

__version__ = "0.1.0"
