"""The demo district: realistic reference data, users for every role and a few hundred records."""
