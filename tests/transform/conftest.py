from __future__ import annotations

from collections.abc import Iterator

import pytest
from transform_helpers import FakeContainer, serve


@pytest.fixture
def container() -> Iterator[FakeContainer]:
    """A fake model container (echo by default) on a free local port."""
    with serve(FakeContainer()) as fake:
        yield fake
