"""Reusable widgets: the keyed table, the filter bar, the confirm dialog."""
