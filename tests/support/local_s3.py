"""A real S3 server on loopback for the object-store tests and the bench: moto in server
mode (its werkzeug WSGI application, the same one ``moto_server`` runs), in a child
process on 127.0.0.1 and a free port (its own: the server binds port 0 and says which it
got, so that servers started at once by parallel tests never race for a port), started and
stopped by :class:`LocalS3`.

Access keys are checked for real: moto's IAM authentication is switched on after the first
requests (``INITIAL_NO_AUTH_ACTION_COUNT``), which create one IAM user with an access key
and an allow-all policy; from then on a wrong key is answered like AWS does (403
``InvalidAccessKeyId`` / ``SignatureDoesNotMatch``). A thin WSGI layer in front of moto
records every request (method, path, ``Range``, status, body bytes sent: the oracle of
what a client read) and can answer the next N S3 requests with 503 ``SlowDown`` (the S3
throttling answer).

    python tests/support/local_s3.py    # what LocalS3 runs: prints the port, then serves
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

CONTROL = "/_eotrend"
NO_AUTH_REQUESTS = 3  # CreateUser, CreateAccessKey, PutUserPolicy
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


class LocalS3:
    """The server (a context manager). After entering: :attr:`endpoint`, the keys of its
    one user (:attr:`access`, :attr:`secret`) and the bucket ``eodata``."""

    def __init__(self, bucket: str = "eodata") -> None:
        self.bucket = bucket
        self.port = 0
        self.endpoint = ""
        self.access = self.secret = ""
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> LocalS3:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(NO_AUTH_REQUESTS)}
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
            env.pop(name, None)
        self._process = subprocess.Popen(
            [sys.executable, __file__],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 30
        with self._process.stdout as announced:
            ready, _, _ = select.select([announced], [], [], 30)
            line = announced.readline() if ready else ""
        if not line.strip().isdigit():
            self.__exit__()
            raise RuntimeError("the local S3 server did not start (no port announced)")
        self.port = int(line)
        self.endpoint = f"http://127.0.0.1:{self.port}"
        while True:
            with contextlib.suppress(OSError):
                self._control("GET", "ping")
                break
            if time.monotonic() > deadline or self._process.poll() is not None:
                self.__exit__()
                raise RuntimeError("the local S3 server did not start")
            time.sleep(0.1)
        self._make_user()
        self.client().create_bucket(
            Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": "default"}
        )
        self.reset()
        return self

    def __exit__(self, *exc) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def _make_user(self) -> None:
        import boto3

        iam = boto3.client(
            "iam",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="bootstrap",
            aws_secret_access_key="bootstrap",
        )
        iam.create_user(UserName="eotrend")
        key = iam.create_access_key(UserName="eotrend")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        }
        iam.put_user_policy(UserName="eotrend", PolicyName="all", PolicyDocument=json.dumps(policy))
        self.access, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self, access: str | None = None, secret: str | None = None):
        """A boto3 S3 client of this server (the user's keys unless given)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="default",
            aws_access_key_id=access or self.access,
            aws_secret_access_key=secret or self.secret,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def upload_folder(self, folder: Path, key: str) -> None:
        """Put every file of ``folder`` under ``key/`` (a product's S3Path layout)."""
        client = self.client()
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            client.put_object(
                Bucket=self.bucket,
                Key=f"{key}/{path.relative_to(folder).as_posix()}",
                Body=path.read_bytes(),
            )

    def _control(self, method: str, what: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.endpoint}{CONTROL}/{what}", data=data, method=method
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def requests(self) -> list[dict]:
        """The S3 requests served since the last :meth:`reset`: dicts with ``method``,
        ``path``, ``range``, ``status``, ``sent`` (body bytes)."""
        return self._control("GET", "requests")

    def sent(self, contains: str = "") -> int:
        """Body bytes of GET answers whose path contains ``contains``."""
        return sum(
            r["sent"] for r in self.requests() if r["method"] == "GET" and contains in r["path"]
        )

    def reset(self) -> None:
        self._control("POST", "reset", {})

    def slow_down(self, count: int) -> None:
        """Answer the next ``count`` S3 requests with 503 SlowDown."""
        self._control("POST", "slowdown", {"count": count})


class _Recorder:
    """WSGI layer in front of moto: the request log, the SlowDown fault, the control API."""

    def __init__(self, app) -> None:
        self.app, self.log, self.slow = app, [], 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(CONTROL):
            return self._control(environ, start_response, path[len(CONTROL) + 1 :])
        entry = {
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "range": environ.get("HTTP_RANGE"),
            "status": 0,
            "sent": 0,
        }
        with self.lock:
            self.log.append(entry)
            throttled = self.slow > 0
            self.slow -= throttled
        if throttled:
            entry["status"] = 503
            start_response(
                "503 Slow Down",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(SLOW_DOWN)))],
            )
            return [SLOW_DOWN]

        def recording_start(status, headers, exc_info=None):
            entry["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        return self._counted(self.app(environ, recording_start), entry)

    @staticmethod
    def _counted(body, entry: dict):
        for chunk in body:
            entry["sent"] += len(chunk)
            yield chunk

    def _control(self, environ, start_response, what: str):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        with self.lock:
            if what == "requests":
                answer = list(self.log)
            elif what == "reset":
                self.log, self.slow, answer = [], 0, None
            elif what == "slowdown":
                self.slow, answer = int(body["count"]), None
            else:
                answer = "ok"
        data = json.dumps(answer).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [data]


def serve() -> None:
    """Bind a free port of 127.0.0.1, print it on a line of its own, then serve."""
    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = _Recorder(DomainDispatcherApplication(create_backend_app))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.port, flush=True)
    # Nothing more on stdout: the parent stops reading it once it has the port.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    server.serve_forever()


if __name__ == "__main__":
    serve()
