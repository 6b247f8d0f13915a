"""mozci-monitor: watch the Firefox CI jobs you trigger and act when they do not run."""

__version__ = "0.1.0"
