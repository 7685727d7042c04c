"""Chapter 12 of the manual as software: findings with their evidence and the manual's advice (pure: data in,
records out; the runtime, the web application, MQTT and ``ml314 diagnose`` read them)."""
