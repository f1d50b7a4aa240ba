"""The dashboard's screens: overview, check detail, help, breakers, silences, notes, timeline, SLOs."""
