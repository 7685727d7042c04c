"""The web application of ``ml314 run`` and ``ml314 monitor``: REST API, live WebSocket, pages (FastAPI)."""
