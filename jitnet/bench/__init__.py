"""The benchmark suite (`jitnet bench`): jitnet against numpy, scipy, torch and neat-python."""
