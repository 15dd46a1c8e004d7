"""The built-in scale definitions, one JSON file per scale (data only, no code).

Loaded by :func:`mapping.scale.builtin_scale`; the schema is described in ``docs/scales.md``.
"""
