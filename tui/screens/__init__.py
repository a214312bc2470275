"""One module per tab (servers, launch, environments, hub) plus the screens they open."""
