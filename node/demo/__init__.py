"""The five-city demonstration federation (``huxin demo``): set-up, the story, the sandbox.

What it does: :mod:`node.demo.federation` builds city CAs, a 3-of-5 federation root, node
certificates, trust bundle and five real ``huxin node run`` processes behind recording proxies;
:mod:`node.demo.residents` makes seeded synthetic residents; :mod:`node.demo.story` tells the
story through the ``huxin`` CLI and the nodes' HTTP APIs; :mod:`node.demo.export` writes the
merchant integrators' sandbox; :mod:`node.demo.privacy` scans recorded responses for leaks;
:mod:`node.demo.proxy` records them; :mod:`node.demo.procs` starts and always stops the child
processes; :mod:`node.demo.serve` prints the ``--serve`` playground.

What it deliberately does not do: implement any protocol, certificate or node logic of its own.
"""
