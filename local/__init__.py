"""The embedded platform: emulator, HTTP front, workers and app processes."""
