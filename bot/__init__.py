"""crashbot: a GitHub-native crash-to-fix loop for TrinityCore-family servers."""

__version__ = "0.1.0"
