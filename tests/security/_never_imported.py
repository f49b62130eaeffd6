"""Importing this module is a side effect a refused row must never cause (see
test_deserialization.py): it is named by a forged row and must stay out of sys.modules."""

IMPORTED = True
