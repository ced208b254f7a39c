"""AWS adapters (boto3): S3, DynamoDB, Step Functions, EventBridge, SQS, Secrets Manager.

``tonearm.bootstrap.build_aws_services`` builds them from the template's environment.
"""
