"""Container images and cluster manifests for modelport.

- ``bundle``: what ``/opt/ml/model`` holds (an endpoint and its versions), written from a registry and loaded into a fresh one
- ``wheels``: this environment's distributions repacked as wheels, so a build needs no index
- ``dockerfile``: the two-stage Dockerfile
- ``engine``: the container engine, through the ``docker`` command
- ``build``: ``modelport build`` (context, then image)
- ``entry``: the image's entry point (seed, serve, drain on SIGTERM)
- ``k8s``: ``modelport k8s render`` (Deployment, Service, HPA, PDB; KServe)
"""
