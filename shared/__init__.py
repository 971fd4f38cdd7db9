"""The platform kernel every service imports: events, tenants, money, bus, db, logging, settings."""
