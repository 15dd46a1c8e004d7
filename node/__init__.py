"""huxin.node: the city node service, its storage, peer sync and the ``huxin`` CLI."""
