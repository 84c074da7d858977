"""The tamper-evident audit log: every read and write of platform data leaves an event here."""
