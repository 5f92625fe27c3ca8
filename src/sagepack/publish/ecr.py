"""ECR: the repository, the registry credentials, pushing tags and reading them back.

The registry is spoken to directly (the Docker Registry HTTP API v2, with the basic
credentials ECR's ``GetAuthorizationToken`` returns) to learn what a tag holds before a
push and to verify it after. Pushes go through the Docker SDK; its stream is read chunk
by chunk because docker-py does not raise on an ``errorDetail`` chunk.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sagepack.errors import PublishError
from sagepack.publish.plan import ImageTarget
from sagepack.publish.progress import PushProgress

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.index.v1+json",
)
INDEX_TYPES = MANIFEST_TYPES[2:]
HTTP_TIMEOUT = 60


@dataclass(frozen=True)
class RegistryAuth:
    """Registry credentials from ``GetAuthorizationToken``; never written anywhere."""

    username: str
    password: str = field(repr=False)
    proxy_endpoint: str

    @property
    def proxy_host(self) -> str:
        return urlsplit(self.proxy_endpoint).netloc or self.proxy_endpoint

    def docker_auth(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}


def authorization(ecr: Any, account_id: str) -> RegistryAuth:
    """Registry credentials for ``account_id`` through the ECR API."""
    data = ecr.get_authorization_token(registryIds=[account_id])["authorizationData"][0]
    decoded = base64.b64decode(data["authorizationToken"]).decode()
    username, sep, password = decoded.partition(":")
    if not sep:
        raise PublishError("ECR GetAuthorizationToken returned a token that is not "
                           "'user:password'")
    return RegistryAuth(username=username, password=password,
                        proxy_endpoint=str(data.get("proxyEndpoint", "")))


@dataclass(frozen=True)
class Repository:
    name: str
    uri: str
    tag_mutability: str
    created: bool


def ensure_repository(ecr: Any, name: str, *, account_id: str, tag_mutability: str,
                      kms_key_id: str | None) -> Repository:
    """The repository ``name``, created (scan on push, configured mutability and
    encryption) when it does not exist."""
    try:
        found = ecr.describe_repositories(registryId=account_id, repositoryNames=[name])
        repo = found["repositories"][0]
        return Repository(name=name, uri=repo["repositoryUri"],
                          tag_mutability=repo.get("imageTagMutability", "MUTABLE"),
                          created=False)
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    encryption: dict[str, str] = {"encryptionType": "AES256"}
    if kms_key_id:
        encryption = {"encryptionType": "KMS", "kmsKey": kms_key_id}
    created = ecr.create_repository(
        registryId=account_id, repositoryName=name,
        imageScanningConfiguration={"scanOnPush": True},
        imageTagMutability=tag_mutability, encryptionConfiguration=encryption,
    )["repository"]
    return Repository(name=name, uri=created["repositoryUri"],
                      tag_mutability=created.get("imageTagMutability", tag_mutability),
                      created=True)


def untag(ecr: Any, *, account_id: str, repository: str, tag: str) -> None:
    """Remove ``tag`` so an immutable repository accepts a forced push."""
    result = ecr.batch_delete_image(registryId=account_id, repositoryName=repository,
                                    imageIds=[{"imageTag": tag}])
    for failure in result.get("failures", []):
        if failure.get("failureCode") not in ("ImageNotFound", "ImageTagDoesNotMatchDigest"):
            raise PublishError(f"cannot remove tag {repository}:{tag} before a forced push: "
                               f"{failure.get('failureCode')}: {failure.get('failureReason')}")


# --- the registry API -------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteManifest:
    """What a tag holds in the registry."""

    digest: str  # the manifest digest (what ``@sha256:...`` references)
    config_digest: str | None  # the image id, for single-platform manifests
    media_type: str
    size: int = 0  # of the manifest's bytes
    manifests: tuple[tuple[str, str], ...] = ()  # an index's: (digest, "os/architecture")

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_TYPES


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryApi:
    """A minimal client of the Docker Registry HTTP API v2 (reads manifests)."""

    def __init__(self, host: str, auth: RegistryAuth) -> None:
        import requests

        self.host = host
        self.scheme = "http" if _is_loopback(host) else "https"
        self._session = requests.Session()
        self._session.auth = (auth.username, auth.password)

    def close(self) -> None:
        self._session.close()

    def manifest(self, repository: str, reference: str) -> RemoteManifest | None:
        """The manifest ``repository:reference`` names, or ``None`` when there is none."""
        import requests

        url = f"{self.scheme}://{self.host}/v2/{repository}/manifests/{reference}"
        try:
            resp = self._session.get(url, headers={"Accept": ", ".join(MANIFEST_TYPES)},
                                     timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise PublishError(f"registry {self.host} did not answer for "
                               f"{repository}:{reference}: {exc}") from exc
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise PublishError(f"registry {self.host} answered {resp.status_code} for "
                               f"{repository}:{reference}: {resp.text[:300]}")
        digest = resp.headers.get("Docker-Content-Digest") or \
            "sha256:" + hashlib.sha256(resp.content).hexdigest()
        try:
            body = resp.json()
        except ValueError as exc:
            raise PublishError(f"registry {self.host} returned a manifest for "
                               f"{repository}:{reference} that is not JSON") from exc
        config = body.get("config") if isinstance(body, dict) else None
        config_digest = config.get("digest") if isinstance(config, dict) else None
        media_type = resp.headers.get("Content-Type", "") or str(body.get("mediaType", ""))
        listed = body.get("manifests") if isinstance(body, dict) else None
        manifests = tuple(
            (str(m.get("digest")), f"{(m.get('platform') or {}).get('os')}/"
                                   f"{(m.get('platform') or {}).get('architecture')}")
            for m in (listed if isinstance(listed, list) else []) if isinstance(m, dict))
        return RemoteManifest(digest=digest, config_digest=config_digest,
                              media_type=media_type.split(";")[0].strip(),
                              size=len(resp.content), manifests=manifests)

    def put_manifest(self, repository: str, reference: str, body: bytes,
                     media_type: str) -> str:
        """PUT ``body`` as the manifest ``repository:reference``; return its digest."""
        import requests

        url = f"{self.scheme}://{self.host}/v2/{repository}/manifests/{reference}"
        try:
            resp = self._session.put(url, data=body, headers={"Content-Type": media_type},
                                     timeout=HTTP_TIMEOUT)
        except requests.RequestException as exc:
            raise PublishError(f"registry {self.host} did not answer the PUT of "
                               f"{repository}:{reference}: {exc}") from exc
        if resp.status_code not in (200, 201):
            raise PublishError(f"registry {self.host} refused {repository}:{reference} "
                               f"({media_type}): {resp.status_code} {resp.text[:300]}")
        return resp.headers.get("Docker-Content-Digest") or \
            "sha256:" + hashlib.sha256(body).hexdigest()


# --- pushing ------------------------------------------------------------------------------


def login(docker: Any, host: str, auth: RegistryAuth) -> None:
    """Log the Docker SDK in (in memory: docker-py writes no config file)."""
    from docker.errors import APIError

    try:
        docker.login(username=auth.username, password=auth.password, registry=host,
                     reauth=True)
    except APIError as exc:
        raise PublishError(f"logging in to registry {host} failed: "
                           f"{exc.explanation or exc}") from exc


def read_push_stream(chunks: Iterable[Mapping[str, Any]], ref: str,
                     progress: PushProgress) -> str:
    """Consume a push stream; return the pushed manifest digest or raise on an error."""
    digest: str | None = None
    for chunk in chunks:
        if "errorDetail" in chunk or "error" in chunk:
            detail = chunk.get("errorDetail") or {}
            message = detail.get("message") if isinstance(detail, dict) else None
            raise PublishError(f"pushing {ref} failed: {message or chunk.get('error')}")
        aux = chunk.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            digest = str(aux["Digest"])
        progress.update(chunk)
    if digest is None:
        raise PublishError(f"pushing {ref} ended without the registry reporting a digest")
    return digest


def push(docker: Any, target: ImageTarget, registry: str, auth: RegistryAuth,
         progress: PushProgress) -> str:
    """Tag the local image for ``registry``, push it, return the manifest digest."""
    from docker.errors import APIError, DockerException, ImageNotFound

    remote_repo = f"{registry}/{target.repository}"
    ref = target.remote_ref(registry)
    image = docker.images.get(target.image_id)
    aliased = ref not in image.tags
    try:
        if aliased:
            image.tag(remote_repo, target.tag)
        stream = docker.api.push(remote_repo, tag=target.tag, stream=True, decode=True,
                                 auth_config=auth.docker_auth())
        return read_push_stream(stream, ref, progress)
    except APIError as exc:
        raise PublishError(f"pushing {ref} failed: {exc.explanation or exc}") from exc
    except DockerException as exc:
        raise PublishError(f"pushing {ref} failed: {exc}") from exc
    finally:
        if aliased:  # leave the engine's tags as they were
            with contextlib.suppress(ImageNotFound):
                docker.images.remove(ref, noprune=True)


def verify(api: RegistryApi, target: ImageTarget, pushed_digest: str) -> RemoteManifest:
    """Read the tag back: it must hold the pushed manifest, of the local image."""
    remote = api.manifest(target.repository, target.tag)
    ref = f"{api.host}/{target.repository}:{target.tag}"
    if remote is None:
        raise PublishError(f"{ref}: the registry has no such tag right after pushing it")
    if remote.digest != pushed_digest:
        raise PublishError(f"{ref}: the registry holds {remote.digest}, but the push "
                           f"reported {pushed_digest}")
    if remote.config_digest is not None and remote.config_digest != target.image_id:
        raise PublishError(f"{ref}: the registry's manifest {remote.digest} is of image "
                           f"{remote.config_digest}, not the local {target.image_id}")
    return remote
