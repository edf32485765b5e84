"""Controller runtime: observation assembly, signal timing/safety shield, ONNX inference."""
