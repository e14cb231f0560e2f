"""armvirt.cpu benchmark suite: each row times our code and a baseline side by side and prints the ratio.

Run it with ``scripts/bench`` (``--quick`` for small sizes, ``--only ROW`` for some rows, ``--list`` for the rows);
the figures, the machine and where the time goes are in ``docs/performance.md``. Not shipped in the collection.
"""
