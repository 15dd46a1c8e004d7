"""huxin.mapping: scale definitions of the member cities and conversion between them.

Pure and stdlib only: scale definitions in, frozen dataclasses or a typed
:class:`~mapping.errors.MappingError` out. See :mod:`mapping.scale` and :mod:`mapping.convert`.
"""
