"""tonearm: a self-hostable, serverless music-AI service.

The package is layered; dependencies point downwards only:

- entry points: ``api`` (FastAPI), ``handlers`` (Lambda), ``local`` (dev runtime), ``cli``
- services: ``jobs``, ``events``
- ports: ``ports``
- adapters: ``adapters.aws`` (boto3), ``adapters.local`` (filesystem, SQLite, ASL runner)
- domain: ``audio``, ``analysis``

Domain and service modules never import boto3 or FastAPI.
"""

__version__ = "0.1.0"
