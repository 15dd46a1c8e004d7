"""huxin.mapping: scale definitions of the member cities and conversion between them."""
