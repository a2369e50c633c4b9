"""wedsync-operator: scales a wedding-services platform ahead of scheduled wedding days."""

__version__ = "0.1.0"
