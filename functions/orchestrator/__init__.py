"""NeuronLab orchestrator: the Lambda code of the provisioning workflow, the API and the idle sweep.

Layers: handlers/ (thin Lambda entry points) -> domain/ (plain Python) -> adapters/ (the only boto3 users).
"""
