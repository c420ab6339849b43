"""Checks one S3 request's AWS Signature Version 4 the way S3 would, independently of the code that
signed it: botocore's own S3 signer (S3SigV4Auth, what the AWS CLI and boto3 sign with) recomputes
the signature from the request as it was sent, for the credentials and region given, and the
object's URL is built the way botocore builds it (the key percent-encoded, '/' and '~' kept).

stdin (JSON): method, target (path and query as sent), headers (lower-case names), bodyBase64,
  accessKeyId, secretAccessKey, region, bucket, key, and either endpoint (path-style:
  <endpoint>/<bucket>/<key>) or dnsSuffix (virtual-hosted: https://<bucket>.s3.<region>.<suffix>/<key>).
stdout (JSON): problems (empty when S3 would accept the signature), expectedSignature,
  signature, signedHeaders.
Run with the project's .venv python (botocore comes with its AWS CLI).
"""
import base64
import hashlib
import json
import re
import sys
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode


def check(req):
    problems = []
    headers = req["headers"]
    body = base64.b64decode(req["bodyBase64"])
    encoded_key = percent_encode(req["key"], safe="/~")
    if req.get("endpoint"):
        url = f'{req["endpoint"]}/{req["bucket"]}/{encoded_key}'
    else:
        url = f'https://{req["bucket"]}.s3.{req["region"]}.{req["dnsSuffix"]}/{encoded_key}'
    expected_target = urlsplit(url).path
    if req["target"] != expected_target:
        problems.append(f'request target {req["target"]} is not botocore\'s {expected_target}')
    if headers.get("host") != urlsplit(url).netloc:
        problems.append(f'Host {headers.get("host")} is not {urlsplit(url).netloc}')

    match = re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, ?"
        r"SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})",
        headers.get("authorization", ""),
    )
    if match is None:
        problems.append("no AWS4-HMAC-SHA256 Authorization header")
        return {"problems": problems}
    access_key, date, region, service, signed, signature = match.groups()
    signed_names = signed.split(";")
    amz_date = headers.get("x-amz-date", "")
    if access_key != req["accessKeyId"]:
        problems.append(f"signed for access key {access_key}, not {req['accessKeyId']}")
    if (region, service) != (req["region"], "s3"):
        problems.append(f"credential scope {region}/{service}, not {req['region']}/s3")
    if date != amz_date[:8]:
        problems.append(f"credential scope date {date} is not x-amz-date's {amz_date}")
    if signed_names != sorted(signed_names):
        problems.append(f"SignedHeaders not sorted: {signed}")
    # S3 refuses a request with an x-amz-* header (or Host) left out of the signature.
    for name in headers:
        if (name == "host" or name.startswith("x-amz-")) and name not in signed_names:
            problems.append(f"{name} is sent but not signed")
    for name in signed_names:
        if name not in headers:
            problems.append(f"{name} is signed but not sent")
    # S3 compares the declared payload hash with the body it received.
    if headers.get("x-amz-content-sha256") != hashlib.sha256(body).hexdigest():
        problems.append("x-amz-content-sha256 is not the body's SHA-256")

    request = AWSRequest(method=req["method"], url=url, headers={n: headers[n] for n in signed_names if n in headers}, data=body)
    request.context["timestamp"] = amz_date
    signer = S3SigV4Auth(Credentials(req["accessKeyId"], req["secretAccessKey"]), "s3", req["region"])
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if expected != signature:
        problems.append("signature does not match the one botocore computes")
    return {"problems": problems, "expectedSignature": expected, "signature": signature, "signedHeaders": signed_names}


if __name__ == "__main__":
    json.dump(check(json.load(sys.stdin)), sys.stdout)
