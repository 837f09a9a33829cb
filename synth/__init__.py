"""gridrisk-synth: the development package of gridrisk — never installed in production.

* :mod:`synth.generate` writes a seeded synthetic province exactly as the departments deliver
  it, plus the ground truth of every rule it plants (docs/generator.md);
* :mod:`synth.accuracy` measures the pipeline's flags against that truth, with a reason for
  every miss and false positive.

It depends on the library (``gridrisk``: schemas, rule thresholds, the manifest writer, ID
rules, the keyed hash); the library and ``jobs`` never import it (tests/test_layering.py).
"""
