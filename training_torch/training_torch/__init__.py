"""Training of nublur's basis kernel prediction network (000) and its ONNX export.

Separate from ``nublur`` so that the library never imports torch.
"""
