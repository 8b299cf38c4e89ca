#!/usr/bin/env python3
"""An example client of JointDesk's public API, as the mobile app or the WeChat mini program
would call it. Standard library only.

1. asks for a one-time code for the phone (POST /api/v1/public/verification-codes);
2. reads the code the applicant received from standard input;
3. submits the application with it (POST /api/v1/public/applications, with an
   Idempotency-Key, so a retry after a lost answer can never make a second case);
4. polls the public status (GET /api/v1/public/cases/{reference}?code=...).

    python examples/app_client.py --server http://127.0.0.1:5000 --phone 13912345678

With ``--token`` (a bearer token of the app's registered client, an integration user) the
case's channel is ``app``; without, ``online``. Exit status: 0 done, 1 refused, 2 wait (429).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id(first17: str = "41010519900101001") -> str:
    """A resident ID number with its check character (GB 11643), for trying things out."""
    total = sum(int(c) * w for c, w in zip(first17, ID_WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def call(server: str, method: str, path: str, body: dict | None = None, headers=None):
    """One JSON request; returns (status, headers, decoded body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(  # noqa: S310  (the server is the caller's choice)
        server.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept-Language": "zh-CN", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as res:  # noqa: S310
            return res.status, dict(res.headers), json.loads(res.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def refused(status: int, answer: dict) -> int:
    error = answer.get("error", {})
    print(f"refused ({status}): {error.get('message')}", file=sys.stderr)
    for field, message in error.get("fields", {}).items():
        print(f"  {field}: {message}", file=sys.stderr)
    return 2 if status == 429 else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="http://127.0.0.1:5000")
    parser.add_argument("--phone", required=True)
    parser.add_argument("--token", help="bearer token of the app's client (channel app)")
    parser.add_argument("--name", default="张三")
    parser.add_argument("--id-number", default=resident_id())
    parser.add_argument("--district", default="金水区")
    parser.add_argument("--address", default="花园路 1 号")
    parser.add_argument("--services", default="water,electricity")
    parser.add_argument("--polls", type=int, default=3, help="status look-ups (0: none)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between them")
    args = parser.parse_args(argv)

    status, headers, answer = call(
        args.server, "POST", "/api/v1/public/verification-codes", {"phone": args.phone}
    )
    if status != 202:
        return refused(status, answer)
    print(f"a code was sent to {answer['phone']}; valid {answer['expires_in']} s")
    print("code: ", end="", flush=True)
    code = sys.stdin.readline().strip()

    application = {
        "applicant": {"name": args.name, "id_number": args.id_number, "phone": args.phone},
        "address": {"district": args.district, "detail": args.address},
        "services": args.services.split(","),
        "project": {"external_works": False},
        "verification": {"phone": args.phone, "code": code},
    }
    extra = {"Idempotency-Key": str(uuid.uuid4())}  # the same key for a retry
    if args.token:
        extra["Authorization"] = f"Bearer {args.token}"
    for attempt in range(3):
        try:
            status, headers, answer = call(
                args.server, "POST", "/api/v1/public/applications", application, extra
            )
            break
        except OSError:  # the answer was lost: the same request again is safe
            if attempt == 2:
                raise
            time.sleep(1)
    if status not in (200, 201):
        return refused(status, answer)
    reference, query_code = answer["reference"], answer["query_code"]
    print(f"reference {reference}, query code {query_code}, channel {answer['channel']}")
    print(f"status page: {answer['status_url']}")

    path = f"/api/v1/public/cases/{reference}?" + urllib.parse.urlencode({"code": query_code})
    for i in range(args.polls):
        if i:
            time.sleep(args.interval)
        status, _headers, case = call(args.server, "GET", path)
        if status != 200:
            return refused(status, case)
        services = ", ".join(f"{t['service']}: {t['status']}" for t in case["tickets"])
        print(f"status {case['status']} ({services})")
        if case["status"] in ("completed", "returned"):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
