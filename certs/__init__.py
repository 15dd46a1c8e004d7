"""huxin.certs: the federation PKI -- city CAs, node certificates, the k-of-n root, bundles."""
