"""The mutation check: break each invariant with the smallest change and see a test fail.

Run by hand (it takes minutes): ``python -m tests.mutants``. See ``run.py``.
"""
