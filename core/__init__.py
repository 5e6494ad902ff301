"""What every layer leans on: settings, database, errors, clock, security primitives."""
