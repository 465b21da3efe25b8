"""SparseIndex and exact_search tests (python/aftershock/sparse.py, cpp/src/sparse/)."""
