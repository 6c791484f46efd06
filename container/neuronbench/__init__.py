"""neuronbench: the NeuronLab benchmark harness (Neuron, CUDA or CPU; one result schema)."""
