"""The city's own 信易+ incentive catalogue as the node holds, serves and publishes it.

What it does: loads the catalogue from the operator's file (``incentives.file``) or, when that
file does not exist, the packaged example for the city (``node/data/incentives/<city>.json``),
validates it with :func:`protocol.incentive.parse_catalogue` against the city's scale (and
checks it is this city's), and replaces it atomically (the office API): the new document is
validated completely, then written to a temporary file and renamed, then swapped in memory; a
refused document changes nothing. :meth:`IncentiveCatalogue.reload_if_changed` lets the other
worker processes of the node take a catalogue one of them wrote: it reads the file again when
its identity, size or modification time changed (``node.app`` checks every
:data:`node.app.RELOAD_INTERVAL` seconds when the node runs more than one worker).

What it deliberately does not do: audit (the API handler does) or decide eligibility
(``protocol.incentive``).
"""

from __future__ import annotations

import json
import logging
import os
from importlib import resources
from pathlib import Path

from mapping.scale import Scale
from node.errors import BadRequestError, ConfigError
from protocol.errors import MalformedError
from protocol.incentive import Catalogue, parse_catalogue

log = logging.getLogger("huxin.node")


def packaged_catalogue(city: str) -> bytes | None:
    """The catalogue shipped for ``city`` (``node/data/incentives/<city>.json``), if any."""
    item = resources.files("node") / "data" / "incentives" / f"{city}.json"
    return item.read_bytes() if item.is_file() else None


def check_catalogue(doc: dict[str, object], scale: Scale, city: str) -> Catalogue:
    """Validate ``doc`` as ``city``'s catalogue on ``scale``.

    Raises:
        CatalogueError: it does not follow the schema (``protocol.incentive``).
        BadRequestError: it is another city's or another scale's catalogue.
    """
    catalogue = parse_catalogue(doc, scale)
    if catalogue.city != city:
        raise BadRequestError(f"the catalogue is for {catalogue.city!r}, not {city!r}")
    if catalogue.scale != scale.id:
        raise BadRequestError(f"the catalogue is on scale {catalogue.scale!r}, not {scale.id!r}")
    return catalogue


class IncentiveCatalogue:
    """The node's current catalogue (document and parsed form); ``None`` when there is none."""

    def __init__(self, path: Path, scale: Scale, city: str) -> None:
        self.path = path
        self.scale = scale
        self.city = city
        self.document: dict[str, object] | None = None
        self.catalogue: Catalogue | None = None
        self.version = 0
        self._stat: tuple[int, int, int, int] | None = None

    def _file_stat(self) -> tuple[int, int, int, int] | None:
        try:
            info = self.path.stat()
        except OSError:
            return None
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    def reload_if_changed(self) -> bool:
        """Load the file again if it changed since this process last read or wrote it (another
        worker replaced the catalogue); whether the catalogue changed.

        A file that no longer holds a valid catalogue is logged and the current one kept (a file
        that was removed keeps the current one too).
        """
        stat = self._file_stat()
        if stat is None or stat == self._stat:
            return False
        try:
            self.load()
        except ConfigError as err:
            self._stat = stat
            log.error("catalogue file not taken", extra={"error": str(err)})
            return False
        log.info("catalogue reloaded", extra={"version": self.version})
        return True

    def load(self) -> None:
        """Load the operator's file, else the packaged example.

        Raises:
            ConfigError: the file is not a valid catalogue for this city.
        """
        source: str
        stat = self._file_stat()
        try:
            data: bytes | None = self.path.read_bytes()
            source = str(self.path)
        except FileNotFoundError:
            data = packaged_catalogue(self.city)
            source = f"the packaged catalogue of {self.city}"
        if data is None:
            return
        try:
            doc = json.loads(data.decode("utf-8"))
            if not isinstance(doc, dict):
                raise MalformedError("the catalogue must be a JSON object")
            self.catalogue = check_catalogue(doc, self.scale, self.city)
        except (ValueError, MalformedError, BadRequestError) as err:
            raise ConfigError(f"{source}: not a valid incentive catalogue: {err}") from err
        self.document = doc
        self.version += 1
        self._stat = stat

    def replace(self, doc: dict[str, object]) -> Catalogue:
        """Validate ``doc``, write it to the catalogue file, and make it current.

        Raises:
            CatalogueError, BadRequestError: not a valid catalogue of this city (nothing is
                written).
            OSError: the file could not be written (the old catalogue stays).
        """
        catalogue = check_catalogue(doc, self.scale, self.city)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)
        self._stat = self._file_stat()
        self.document = doc
        self.catalogue = catalogue
        self.version += 1
        return catalogue
