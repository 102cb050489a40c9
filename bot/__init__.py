"""KRATOS: a store assistant that answers product-catalog questions in Telegram."""

__version__ = "0.1.0"
