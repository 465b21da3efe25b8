"""MultiVectorStore and the exact MaxSim kernels (python/aftershock/maxsim.py, cpp/src/maxsim/)."""
