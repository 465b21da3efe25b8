"""MultiVectorIndex: candidate generation + exact rerank (python/aftershock/multivector.py, cpp/src/multivector/)."""
