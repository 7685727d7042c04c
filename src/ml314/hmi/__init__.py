"""The module's human interfaces outside the browser: the LCD page model and ``ml314 lcd`` (Textual)."""
