"""The ``hqctf`` command line."""
