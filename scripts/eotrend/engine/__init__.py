"""The process pool every stage runs its heavy work on, its resource-aware worker count
and progress reporting. Imports only :mod:`eotrend.core`."""
