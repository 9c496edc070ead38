"""CPU-bound user code for examples/cpu_fanout.json (run it with examples/ on PYTHONPATH)."""


def crunch(seed: int, rounds: int) -> int:
    """Sum of squares below ``rounds``, shifted by ``seed``: pure-Python work that holds the GIL."""
    return (sum(i * i for i in range(rounds)) + seed) % 1_000_003
