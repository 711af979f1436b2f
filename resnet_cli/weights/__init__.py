"""Model weights: ``catalog`` (what exists and where), ``cache`` (the local copies, their
records and locks) and ``fetch`` (download, import, locate).  Import the submodule you need.
"""
