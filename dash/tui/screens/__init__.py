"""The dashboard's screens: overview, check detail, help."""
