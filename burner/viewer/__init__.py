"""The zero-install browser viewer of VIEWER/: data packing (pack) and writing (write)."""
