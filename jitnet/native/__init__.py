"""Native code: IR text -> machine code (jit, cache) -> calls on numpy buffers (plan, runtime)."""
