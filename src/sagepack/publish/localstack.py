"""Local stand-ins for AWS, for tests and for trying ``invoke publish`` by hand.

Two real services on loopback, on free ports, with their data in a temporary folder:

- moto's server mode as the AWS endpoint (ECR API, S3, STS, SageMaker);
- the CNCF distribution registry (Debian's ``docker-registry``) as the registry images
  are really pushed to, with htpasswd authentication accepting exactly the credentials
  moto's ``GetAuthorizationToken`` hands out.

``python -m sagepack.publish.localstack`` starts both and prints the variables to export.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from sagepack.errors import PublishError
from sagepack.ports import LOOPBACK, free_port

FAKE_ACCESS_KEY = "testing"
FAKE_SECRET_KEY = "testing"
DEFAULT_REGION = "us-east-1"
REGISTRY_BINARY = "docker-registry"


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, what: str,
               timeout: float = 30.0) -> None:
    """Poll ``url`` until it answers any HTTP status; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PublishError(f"{what} exited with status {process.returncode} while "
                               f"starting; its log ({log}):\n{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer (401 from the registry) means it is up
        except OSError:
            time.sleep(0.05)
    raise PublishError(f"{what} did not answer on {url} within {timeout:.0f}s; "
                       f"its log ({log}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"(log unreadable: {exc})"


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 10.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


@dataclass
class MotoServer:
    """moto in server mode on ``127.0.0.1:<port>``."""

    workdir: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        self.port = self.port or free_port()
        log = self.workdir / "moto.log"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        _wait_http(f"{self.url}/moto-api/", self.process, log, "moto server")

    def stop(self) -> None:
        _stop(self.process)
        self.process = None


def ecr_credentials(endpoint_url: str, region: str = DEFAULT_REGION) -> tuple[str, str]:
    """The user and password moto's ``GetAuthorizationToken`` hands out."""
    import boto3

    ecr = boto3.client("ecr", region_name=region, endpoint_url=endpoint_url,
                       aws_access_key_id=FAKE_ACCESS_KEY,
                       aws_secret_access_key=FAKE_SECRET_KEY)
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    return user, password


def _bcrypt(password: str) -> str:
    """A bcrypt hash: the ``bcrypt`` package, else apache2-utils' ``htpasswd`` binary."""
    try:
        import bcrypt
    except ImportError:
        exe = shutil.which("htpasswd")
        if exe is None:
            raise PublishError("an htpasswd file needs bcrypt hashes: install the Python "
                               "package bcrypt (or Debian's apache2-utils)") from None
        out = subprocess.run([exe, "-nbBC", "5", "user", password], capture_output=True,
                             text=True, check=True).stdout
        return out.strip().partition(":")[2]
    return str(bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode())


def write_htpasswd(path: Path, users: Mapping[str, str]) -> None:
    """An htpasswd file with bcrypt hashes (the only kind the registry accepts)."""
    lines = [f"{user}:{_bcrypt(password)}" for user, password in users.items()]
    path.write_text("\n".join(lines) + "\n")


_REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: local-only-not-a-secret
auth:
  htpasswd:
    realm: sagepack-local
    path: {htpasswd}
"""


@dataclass
class Registry:
    """The distribution registry v2 on ``127.0.0.1:<port>`` with htpasswd auth.

    The Docker engine treats 127.0.0.0/8 registries as insecure, so plain HTTP works.
    ``stop()`` then ``start()`` keeps the same port and stored data.
    """

    workdir: Path
    users: Mapping[str, str]
    port: int = 0
    binary: str = REGISTRY_BINARY
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def storage(self) -> Path:
        return self.workdir / "storage"

    def start(self) -> None:
        exe = shutil.which(self.binary)
        if exe is None:
            raise PublishError(f"'{self.binary}' is not installed (Debian package "
                               "docker-registry); it is needed for a local registry")
        self.port = self.port or free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(exist_ok=True)
        htpasswd = self.workdir / "htpasswd"
        write_htpasswd(htpasswd, self.users)
        config = self.workdir / "config.yml"
        config.write_text(_REGISTRY_CONFIG.format(root=self.storage, addr=self.host,
                                                  htpasswd=htpasswd))
        log = self.workdir / "registry.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [exe, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL)
        _wait_http(f"http://{self.host}/v2/", self.process, log, "docker-registry")

    def stop(self) -> None:
        _stop(self.process)
        self.process = None

    def kill(self) -> None:
        """Stop at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@dataclass
class LocalAws:
    """moto plus a registry, started together; a context manager."""

    workdir: Path
    region: str = DEFAULT_REGION
    moto: MotoServer = field(init=False)
    registry: Registry = field(init=False)

    def __post_init__(self) -> None:
        self.moto = MotoServer(self.workdir / "moto")
        self.registry = Registry(self.workdir / "registry", users={})

    def start(self) -> LocalAws:
        self.moto.start()
        try:
            user, password = ecr_credentials(self.moto.url, self.region)
            self.registry.users = {user: password}
            self.registry.start()
        except BaseException:
            self.moto.stop()
            raise
        return self

    def stop(self) -> None:
        self.registry.stop()
        self.moto.stop()

    def __enter__(self) -> LocalAws:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The variables that point boto3 and sagepack at these services."""
        return {
            "AWS_ENDPOINT_URL": self.moto.url,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_KEY,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "SAGEPACK_REGION": self.region,
            "SAGEPACK_REGISTRY": self.registry.host,
        }


@contextlib.contextmanager
def local_aws(region: str = DEFAULT_REGION) -> Iterator[LocalAws]:
    """Start moto and a registry in a temporary folder; stop and remove them on exit."""
    with tempfile.TemporaryDirectory(prefix="sagepack-local-aws-") as tmp, \
            LocalAws(Path(tmp), region) as services:
        yield services


def create_bucket(endpoint_url: str, bucket: str, region: str) -> None:
    import boto3

    s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url,
                      aws_access_key_id=FAKE_ACCESS_KEY, aws_secret_access_key=FAKE_SECRET_KEY)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket,
                         CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Start the services, print the variables to export, and wait for Ctrl-C/SIGTERM."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m sagepack.publish.localstack",
        description="Start moto (AWS) and a registry on loopback for trying `invoke publish`; "
                    "print the variables to export.")
    parser.add_argument("--region", default=DEFAULT_REGION, help="region of the fake AWS")
    parser.add_argument("--bucket", action="append", default=[],
                        help="create this S3 bucket (repeatable)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    with local_aws(args.region) as services:
        for bucket in args.bucket:
            create_bucket(services.moto.url, bucket, args.region)
        for key, value in services.environment().items():
            sys.stdout.write(f"export {key}={value}\n")
        sys.stdout.write("# Ctrl-C stops moto and the registry and removes their data.\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
