"""signalhub: the web application, CLI, scheduler, models and database access."""
