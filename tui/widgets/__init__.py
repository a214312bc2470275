"""Reusable widgets: the keyed table, the filter bar, the confirm dialog, a Static set for free when unchanged."""
