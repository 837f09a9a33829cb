"""The ``gridrisk`` command: the top layer (it calls :mod:`jobs` and the :mod:`gridrisk` library;
nothing imports it back). ``cli.main:main`` is the console entry point."""
