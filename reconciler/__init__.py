"""headless-reconciler: keeps Istio entries pointed at live StatefulSet pod IPs."""

__version__ = "0.1.0"
