"""Check digits of the unified social credit code (GB 32100) and the resident ID number (GB 11643)."""
