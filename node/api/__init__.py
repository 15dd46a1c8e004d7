"""HTTP handlers of the node, one module per resource. ``node.app`` wires them to routes."""
