"""The fake server's non-model endpoints: files, batches, vector stores, conversations, assistants.

Small canned JSON in the API's shapes, kept in memory so a created file can be listed (with cursor
pagination: ``limit`` / ``after`` / ``has_more``), retrieved, read and deleted; an unknown id is a 404.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

JsonDict = dict[str, Any]
# (status, JSON body or raw bytes with their content type)
Answer = tuple[int, "JsonDict | tuple[bytes, str]"]
Handler = Callable[[str | None, dict[str, str], JsonDict], Answer]

FILE_CONTENT = b'{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions"}\n'


def _new_id(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:24]


def _not_found(what: str) -> Answer:
    return 404, {"error": {"message": f"No such {what}", "type": "invalid_request_error", "code": None}}


class ResourceStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._files: dict[str, JsonDict] = {}

    def match(self, method: str, path: str) -> tuple[Handler, str | None] | None:
        """The handler of ``method path`` (``path`` without ``/v1``) and the id in it, or None."""
        parts = [p for p in path.split("/") if p]
        if not parts:
            return None
        head, rest = parts[0], parts[1:]
        handlers: dict[tuple[str, str, int], Handler] = {
            ("POST", "files", 0): self._create_file,
            ("GET", "files", 0): self._list_files,
            ("GET", "files", 1): self._get_file,
            ("DELETE", "files", 1): self._delete_file,
            ("POST", "batches", 0): self._create_batch,
            ("GET", "batches", 1): self._get_batch,
            ("POST", "vector_stores", 0): self._create_vector_store,
            ("POST", "conversations", 0): self._create_conversation,
            ("POST", "assistants", 0): self._create_assistant,
        }
        if head == "files" and len(rest) == 2 and rest[1] == "content" and method == "GET":
            return self._file_content, rest[0]
        handler = handlers.get((method, head, len(rest)))
        if handler is None:
            return None
        return handler, rest[0] if rest else None

    # ------------------------------------------------------------------ files

    def _create_file(self, _id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        file = {
            "id": _new_id("file-"),
            "object": "file",
            "bytes": len(FILE_CONTENT),
            "created_at": int(time.time()),
            "filename": "requests.jsonl",
            "purpose": body.get("purpose") or "batch",
            "status": "processed",
        }
        with self._lock:
            self._files[file["id"]] = file
        return 200, file

    def _list_files(self, _id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        limit = int(query.get("limit") or 10000)
        with self._lock:
            files = list(self._files.values())
        after = query.get("after")
        if after is not None:
            ids = [f["id"] for f in files]
            files = files[ids.index(after) + 1 :] if after in ids else []
        page = files[:limit]
        return 200, {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(files) > limit,
        }

    def _get_file(self, file_id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        with self._lock:
            file = self._files.get(file_id or "")
        return (200, file) if file is not None else _not_found("file")

    def _delete_file(self, file_id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        with self._lock:
            file = self._files.pop(file_id or "", None)
        if file is None:
            return _not_found("file")
        return 200, {"id": file_id, "object": "file", "deleted": True}

    def _file_content(self, file_id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        with self._lock:
            known = (file_id or "") in self._files
        return (200, (FILE_CONTENT, "application/octet-stream")) if known else _not_found("file")

    # ------------------------------------------------------------------ the others

    def _create_batch(self, _id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        return 200, self._batch(_new_id("batch_"), body)

    def _get_batch(self, batch_id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        return 200, self._batch(batch_id or "", {"status": "completed"})

    @staticmethod
    def _batch(batch_id: str, body: JsonDict) -> JsonDict:
        return {
            "id": batch_id,
            "object": "batch",
            "endpoint": body.get("endpoint") or "/v1/chat/completions",
            "input_file_id": body.get("input_file_id") or "file-unknown",
            "completion_window": body.get("completion_window") or "24h",
            "status": body.get("status") or "validating",
            "created_at": int(time.time()),
            "errors": None,
            "metadata": body.get("metadata"),
        }

    def _create_vector_store(self, _id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        return 200, {
            "id": _new_id("vs_"),
            "object": "vector_store",
            "created_at": int(time.time()),
            "name": body.get("name") or "",
            "usage_bytes": 0,
            "file_counts": {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0},
            "status": "completed",
            "last_active_at": None,
            "metadata": body.get("metadata") or {},
        }

    def _create_conversation(self, _id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        return 200, {
            "id": _new_id("conv_"),
            "object": "conversation",
            "created_at": int(time.time()),
            "metadata": body.get("metadata") or {},
        }

    def _create_assistant(self, _id: str | None, query: dict[str, str], body: JsonDict) -> Answer:
        return 200, {
            "id": _new_id("asst_"),
            "object": "assistant",
            "created_at": int(time.time()),
            "model": body.get("model"),
            "name": body.get("name"),
            "description": None,
            "instructions": body.get("instructions"),
            "tools": [],
            "metadata": {},
        }
