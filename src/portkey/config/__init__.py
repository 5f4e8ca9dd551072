"""Declarative config: portkey.yaml and the Portkey config object."""
