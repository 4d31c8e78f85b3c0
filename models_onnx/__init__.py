"""The shipped ONNX models and their cards, installed as ``nublur.models``.

In the repository the files live here, in ``models_onnx/``; the build maps this folder to
the package ``nublur.models`` (setup.py), so ``importlib.resources.files("nublur.models")``
finds them in an editable checkout, an installed wheel or a zip alike.
"""
