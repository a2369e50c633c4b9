"""Pure decision logic: schedules and phases, wedding-day mode, replica counts, health.

Nothing in this package performs I/O or reads a clock; the time is always an argument.
That is what lets the handlers stay thin and these rules be property-tested alone.
"""
