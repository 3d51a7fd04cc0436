"""Lab client: one HTTPS request with Python's urllib/ssl (a real TLS stack: OpenSSL via ssl).

    python3 py-get.py URL --ca CA.pem [--upload-bytes N] [--count N] [--interval-s S]
"""
import argparse
import ssl
import time
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("url")
p.add_argument("--ca", required=True)
p.add_argument("--upload-bytes", type=int, default=0)
p.add_argument("--count", type=int, default=1)
p.add_argument("--interval-s", type=float, default=0.0)
a = p.parse_args()

ctx = ssl.create_default_context(cafile=a.ca)
for i in range(a.count):
    data = None
    if a.upload_bytes:
        # Incompressible-looking bytes are irrelevant under TLS; zeros keep the script cheap.
        data = bytes(a.upload_bytes)
    req = urllib.request.Request(a.url, data=data, method="POST" if data else "GET",
                                 headers={"content-type": "application/octet-stream"} if data else {})
    with urllib.request.urlopen(req, context=ctx, timeout=60) as r:
        r.read()
        print(r.status, flush=True)
    if i + 1 < a.count:
        time.sleep(a.interval_s)
