"""huxin.protocol: the wire formats -- attestations, presentations, status lists, verification."""
