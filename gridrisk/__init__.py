"""gridrisk — big-data risk screening for grid-based social governance."""

__version__ = "0.1.0"
