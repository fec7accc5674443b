"""The data plane: live endpoints, routing, and the codecs between wire bodies and columnar batches.

Transport-free: the HTTP layer (``modelport.api``) only moves bytes and
headers in and out, so REST, the v2 protocol, SageMaker routes and batch jobs
share one implementation.
"""
