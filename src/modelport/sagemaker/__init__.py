"""The SageMaker control plane: boto3's ``sagemaker`` client, pointed at modelport, just works (docs/sagemaker.md).

    control.py     the operation table: target name → handler, scope (read or admin)
    shapes.py      reading requests as the service does; errors in AWS's words
    context.py     what operations share: services, caller, ARNs, times, listings
    records.py     what SageMaker has and modelport does not (endpoint configs, container fields)
    artifacts.py   ModelDataUrl (s3://…/model.tar.gz, a path, a registry reference) → a model file
    models.py      CreateModel … DeleteModel          → model versions
    configs.py     CreateEndpointConfig … Delete…      → the endpoint configuration they become
    endpoints.py   CreateEndpoint … DeleteEndpoint     → endpoints
    transforms.py  CreateTransformJob … Stop…          → transform jobs

The wire protocol (AWS JSON 1.1, SigV4, the error envelope) is the API's:
:mod:`modelport.api.routes.sagemaker`.
"""
