"""Sans-I/O codecs of the devices' wire protocols: bytes in, frames out.

Imports nothing else of ours, so a vendor can read or reuse it alone.
"""
