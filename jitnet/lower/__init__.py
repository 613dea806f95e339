"""Lowering tiers: Net -> llvmlite.ir.Module (one module per tier)."""
