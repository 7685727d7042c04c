"""Value types shared by every layer."""
