"""Evidence in an S3-compatible object store, chosen by the environment (settings call this).

With ``STORAGE_S3_BUCKET`` set, Django's default storage is django-storages' S3 backend: keyframes,
crops and clips are written to the bucket by whichever host cuts them, and read back through the
storage API (evidence bundles, retention). The bucket stays private: pages and the API hand staff
signed URLs that expire after ``STORAGE_S3_URL_EXPIRE_S``, and the browser fetches the bytes from the
store, so the pages' Content-Security-Policy must name the store's origin (``media_origins``).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from trafficsite.env import env_int, env_list, env_secret, env_str


@dataclass(frozen=True)
class ObjectStore:
    backend: dict[str, Any]  # an entry of settings.STORAGES
    media_origins: list[str]  # where the browser loads evidence from (CSP img-src, media-src)


def from_env() -> ObjectStore | None:
    """The S3 storage the environment asks for, or None for local files under MEDIA_ROOT."""
    bucket = env_str("STORAGE_S3_BUCKET", "")
    if not bucket:
        return None
    if importlib.util.find_spec("storages") is None or importlib.util.find_spec("boto3") is None:
        raise ImproperlyConfigured(
            'STORAGE_S3_BUCKET is set but django-storages or boto3 is missing: pip install "django-storages[s3]"'
        )
    endpoint = env_str("STORAGE_S3_ENDPOINT_URL", "")  # MinIO, Ceph, Garage, moto; empty: AWS
    region = env_str("STORAGE_S3_REGION", "")
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.password:
            # Not echoed: a URL with credentials in it would put them in the error.
            raise ImproperlyConfigured("STORAGE_S3_ENDPOINT_URL must be an http(s) URL without credentials")
        # Path-style URLs (endpoint/bucket/key): every S3-compatible server answers them, and the
        # browser loads evidence from exactly the endpoint's origin.
        origin = f"{parts.scheme}://{parts.netloc}"
    else:
        origin = f"https://{bucket}.s3.{region}.amazonaws.com" if region else f"https://{bucket}.s3.amazonaws.com"
    backend = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint or None,
            "region_name": region or None,
            "addressing_style": "path" if endpoint else "virtual",
            "signature_version": "s3v4",
            # Secrets from the variable or its *_FILE; with neither, boto3's own chain (AWS_* variables,
            # an instance role).
            "access_key": env_secret("STORAGE_S3_ACCESS_KEY", required=False) or None,
            "secret_key": env_secret("STORAGE_S3_SECRET_KEY", required=False) or None,
            "querystring_auth": True,  # signed URLs: the bucket itself stays private
            "querystring_expire": env_int("STORAGE_S3_URL_EXPIRE_S", 300, minimum=30, maximum=86400),
            "default_acl": None,  # the bucket's own policy (private), never public-read
            "file_overwrite": False,
            # Reading an object (a bundle's clip) downloads it first: past this size to a temporary
            # file, not memory (django-storages' default, 0, keeps every object whole in memory).
            "max_memory_size": 2 * 1024 * 1024,
        },
    }
    # A CDN or custom domain in front of the store serves the signed URLs from elsewhere: name it here
    # (empty, as compose passes an unset one: the store's own origin).
    return ObjectStore(backend, env_list("STORAGE_S3_MEDIA_ORIGINS", []) or [origin])
