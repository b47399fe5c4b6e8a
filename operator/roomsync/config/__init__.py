"""Configuration: the RoomSync API as defined by the CRDs in ``crds/`` (loading, defaults, offline validation,
durations, the generated configuration reference). Import the submodules; this package imports nothing heavy."""
