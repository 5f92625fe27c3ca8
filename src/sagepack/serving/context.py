"""What a handler function sees of its request when it takes a trailing ``context`` argument.

The methods ``get_request_header(idx, name)``, ``get_all_request_header(idx)`` and
``set_response_header(idx, name, value)`` and the ``system_properties`` mapping follow the
context that AWS's model servers hand to handlers, so scripts written for them run
unchanged (``idx`` is always 0: one request per call).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sagepack.serving import parameters as p

# Response headers a handler may not set: the server owns them.
_RESERVED = frozenset({"content-length", "transfer-encoding", "connection", "content-type"})


@dataclass
class Context:
    """One request, as handler functions see it."""

    model_dir: Path
    content_type: str = ""
    accept: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: True when the body held many records (CSV rows, JSON lines): one output line each.
    multi_record: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)
    #: This worker's GPU (round-robin over visible GPUs), None on CPU.
    gpu_id: int | None = None

    @property
    def custom_attributes(self) -> str | None:
        """``X-Amzn-SageMaker-Custom-Attributes`` of the request, if sent."""
        return self.headers.get(p.CUSTOM_ATTRIBUTES_HEADER)

    @property
    def inference_id(self) -> str | None:
        """``X-Amzn-SageMaker-Inference-Id`` of the request, if sent."""
        return self.headers.get(p.INFERENCE_ID_HEADER)

    @property
    def system_properties(self) -> dict[str, object]:
        """``model_dir`` and ``gpu_id``: this worker's GPU, as AWS's PyTorch container
        passes it (``torch.device(f"cuda:{gpu_id}")``); None on CPU."""
        return {"model_dir": str(self.model_dir), "gpu_id": self.gpu_id}

    def set_custom_attributes(self, value: str) -> None:
        """Echo ``value`` in the response's ``X-Amzn-SageMaker-Custom-Attributes``."""
        self.set_response_header(0, p.CUSTOM_ATTRIBUTES_HEADER, value)

    def get_request_header(self, idx: int, name: str) -> str | None:
        """A request header by case-insensitive name, or None."""
        return self.headers.get(name.lower())

    def get_all_request_header(self, idx: int) -> dict[str, str]:
        """Every request header, names in lower case."""
        return dict(self.headers)

    def set_response_header(self, idx: int, name: str, value: str) -> None:
        """Add a header to the response (not Content-Type or framing headers)."""
        key = name.strip().lower()
        text = str(value)
        if key in _RESERVED:
            raise ValueError(f"the server sets {name!r}; output_fn returns the content type")
        if not key or any(c in key + text for c in "\r\n"):
            raise ValueError(f"invalid response header {name!r}")
        self.response_headers[key] = text
