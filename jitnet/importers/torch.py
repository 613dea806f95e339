def from_torch(module, input_shape=None, threshold=0.0):
    raise NotImplementedError
