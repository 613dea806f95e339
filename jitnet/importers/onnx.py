def from_onnx(model, threshold=0.0):
    raise NotImplementedError
