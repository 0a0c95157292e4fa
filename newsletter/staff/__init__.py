"""Staff accounts for the console: who may sign in, with which role, and what they did."""
