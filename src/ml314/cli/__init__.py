"""The command line, the front door of ml314."""
