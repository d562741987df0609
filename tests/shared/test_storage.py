import hashlib

import pytest

from shared.storage import BlobNotFound, BlobStore


def test_put_is_content_addressed_and_idempotent(tmp_path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"pixels")
    assert digest == hashlib.sha256(b"pixels").hexdigest()
    assert store.put(b"pixels") == digest
    assert store.get(digest) == b"pixels"
    assert not list(tmp_path.rglob(".incoming-*"))


def test_missing_and_malformed_digests(tmp_path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.get("0" * 64)
    with pytest.raises(ValueError):
        store.path_for("../../etc/passwd")
