"""Importers: models of other libraries -> `Net` with weights and explicit outputs (SPEC §8).

Each importer loads its library only when called (extras `neat`, `torch`, `onnx`).
"""

from .neat import from_neat
from .onnx import from_onnx
from .torch import from_torch

__all__ = ["from_neat", "from_onnx", "from_torch"]
