"""Seeds one moto account for `npm run bench -- --only audit` (bench/audit.ts), fast: boto3 from the
project's .venv against the moto server, in one process, with a bounded thread pool.

    .venv/bin/python bench/auditSeed.py <endpoint> <users> <groups> <roles> <policies> <buckets>

What it creates (deterministic):
  - <users> users; every 10th has an access key, every 5th a login profile (console password).
  - <groups> groups; user i joins group i % groups for the first 10 users of each group.
  - <roles> roles (EC2 trust policy); role i gets customer policy i attached when i < <policies>.
  - <policies> customer managed policies (one statement each).
  - <buckets> buckets in eu-west-1; every 20th gets a public-read bucket policy, every 25th a
    public-read ACL, every 4th a bucket-level public access block (all on).
Prints one JSON line: what was created and how long it took.
"""
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError

endpoint, users, groups, roles, policies, buckets = sys.argv[1], *map(int, sys.argv[2:7])
REGION = "eu-west-1"
cfg = Config(max_pool_connections=32, retries={"max_attempts": 5, "mode": "standard"})
kw = dict(endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing", config=cfg)
iam = boto3.client("iam", **kw)
s3 = boto3.client("s3", **kw)
WORKERS = 8
started = time.time()


def call(method, **params):
    """moto's server is not thread-safe everywhere (an occasional HTTP 500 under concurrency): retry;
    an entity that the failed attempt did create counts as created."""
    for attempt in range(5):
        try:
            return method(**params)
        except ClientError as e:
            if e.response["Error"]["Code"] in ("EntityAlreadyExists", "BucketAlreadyOwnedByYou", "LimitExceeded") and attempt > 0:
                return None
            raise
        except ResponseParserError:
            time.sleep(0.05 * (attempt + 1))
    return method(**params)


def run(fn, items):
    with ThreadPoolExecutor(WORKERS) as pool:
        for _ in pool.map(fn, items):
            pass


def policy_doc(i):
    return json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": f"arn:aws:s3:::bench-data-{i}/*"}]})


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def make_policy(i):
    call(iam.create_policy, PolicyName=f"bench-policy-{i:05d}", PolicyDocument=policy_doc(i))


def make_group(i):
    call(iam.create_group, GroupName=f"bench-group-{i:03d}")


def make_user(i):
    name = f"bench-user-{i:05d}"
    call(iam.create_user, UserName=name)
    if i % 10 == 0:
        call(iam.create_access_key, UserName=name)
    if i % 5 == 0:
        call(iam.create_login_profile, UserName=name, Password="Bench-Passw0rd!")
    if groups > 0 and i < groups * 10:
        call(iam.add_user_to_group, GroupName=f"bench-group-{i % groups:03d}", UserName=name)


def make_role(i):
    name = f"bench-role-{i:05d}"
    call(iam.create_role, RoleName=name, AssumeRolePolicyDocument=TRUST)
    if i < policies:
        call(iam.attach_role_policy, RoleName=name, PolicyArn=f"arn:aws:iam::123456789012:policy/bench-policy-{i:05d}")


def make_bucket(i):
    name = f"bench-bucket-{i:04d}"
    call(s3.create_bucket, Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
    if i % 20 == 0:
        doc = {"Version": "2012-10-17", "Statement": [{"Sid": "Public", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{name}/*"}]}
        call(s3.put_bucket_policy, Bucket=name, Policy=json.dumps(doc))
    if i % 25 == 0:
        call(s3.put_bucket_acl, Bucket=name, ACL="public-read")
    if i % 4 == 0:
        call(s3.put_public_access_block, Bucket=name, PublicAccessBlockConfiguration={k: True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]})


run(make_policy, range(policies))
run(make_group, range(groups))
run(make_user, range(users))
run(make_role, range(roles))
run(make_bucket, range(buckets))
print(json.dumps({"users": users, "groups": groups, "roles": roles, "policies": policies, "buckets": buckets, "seconds": round(time.time() - started, 1)}))
