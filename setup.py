"""Build script: the metadata is in setup.cfg; this maps models_onnx/ to nublur.models."""

from setuptools import find_packages, setup

setup(
    packages=find_packages(include=["nublur", "nublur.*"]) + ["nublur.models"],
    package_dir={"nublur.models": "models_onnx"},
    package_data={"nublur.models": ["*.onnx", "*.json"]},
)
