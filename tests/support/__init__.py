"""Test support: the servers, fault proxy, process harness and helpers the tests import.

Test modules import from here, never from ``tests.conftest`` or from another test
module; conftest.py holds only fixtures. Each helper name has one meaning across
the package (see docs/testing.md for what each module holds).
"""
