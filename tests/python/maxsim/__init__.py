"""The exact MaxSim kernels (cpp/src/maxsim/), exercised through MultiVectorStore, against float64."""
