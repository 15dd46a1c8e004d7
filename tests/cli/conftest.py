"""Fixtures the merchant and wallet CLI tests share: a simulated federation and its bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.certs.sim import Federation
from tests.cli.merchant_sim import MerchantWorld


@pytest.fixture(scope="module")
def fed() -> Federation:
    return Federation()


@pytest.fixture
def world(fed: Federation, tmp_path: Path) -> MerchantWorld:
    w = MerchantWorld(fed, tmp_path).build()
    w.save_status()
    return w
