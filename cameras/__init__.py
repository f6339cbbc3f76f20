"""Cameras: the Camera model, its configuration checks (calibration, zones, rules), its sources, and
its live state in Redis. Every other app builds on this one; it imports none of them.
"""
