"""Benchmark helpers: our components side by side with the Hugging Face references.

Imports: any sub-package (it measures them); nothing imports ``bench``.
"""
