"""neuronlab: the command line for NeuronLab (on AWS, or on LocalCloud with --local)."""
