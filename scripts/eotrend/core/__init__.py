"""The bottom layer: errors, atomic writes, logging, config loading and schema defaults,
provenance tags, credentials, the configuration reference. Imports nothing of eotrend."""
