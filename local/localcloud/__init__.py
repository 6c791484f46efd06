"""LocalCloud: the NeuronLab orchestrator on one machine, no AWS account.

moto (pinned) emulates AWS in-process; the app's own template.yaml is translated and deployed into
it; Lambda handlers run in-process from the source tree; the real ASL runs in moto's interpreter;
ECS tasks run as local processes (JupyterLab, the benchmark harness on CPU); the REST API is served
on localhost by invoking the api function with API Gateway proxy events.
"""
