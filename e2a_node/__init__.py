"""e2a: turn ebooks into audiobooks on one machine or a peer-to-peer cluster of them."""

__version__ = "0.1.0"
