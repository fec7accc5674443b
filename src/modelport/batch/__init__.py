"""Batch transform jobs: score big files with a model version, SageMaker-style, in flat memory.

    spec.py      TransformSpec: what a job is asked (SageMaker's options in modelport's words)
    inputs.py    input objects: files, folders, S3 prefixes, globs
    blocks.py    the block grid every reader cuts an object by
    reader.py    reading an object as blocks
    formats.py   parsing and writing CSV, JSON Lines, Parquet (Arrow)
    filters.py   input and output column filters
    plan.py      the decisions fixed when a job is created (schema, columns, outputs)
    transform.py one block through the model (bad records isolated)
    staging.py   committed blocks: the checkpoint
    outputs.py   output layouts, atomic writes
    runner.py    one run of a job, engine-agnostic
    pipeline.py  the local engine (reader → scoring pool → writer)
    dask_engine.py  the Dask engine
    job.py, jobs.py, service.py  TransformJob records and the service behind CLI, SDK and API
"""
