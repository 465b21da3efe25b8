"""MultiVectorStore (python/aftershock/store.py, cpp/src/multivector/store*.cpp): build, scoring, search, rerank, persistence."""
