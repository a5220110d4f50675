"""The DUIS XML Schema 5.4, read at run time from a configured folder (never embedded).

The folder holds ``DUIS Schema V5.4.xsd`` and what it imports (``MMC Schema V5.4.xsd`` and
``xmldsig-core-schema.xsd``). It is chosen, first match wins, by:

1. the ``--schema-dir`` option (``folder`` argument of :func:`schema_folder`);
2. the ``ETMAD_DUIS_SCHEMA_DIR`` setting;
3. ``$ETMAD_DCC_VECTORS/duis/schema``;
4. the shared DCC vectors next to the project, ``../shared/vectors/dcc/duis/schema``, if present.

The schema is compiled once per folder per process. Compiling loads only files inside the
folder: the DUIS schema imports ``MMC Schema V5.4.xsd`` by a name with spaces, which libxml2
cannot resolve as written, so the import locations are URL-encoded in memory and a resolver maps
them back to the folder's files; no network access, no DTD loading.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, unquote, urlparse

import attrs
from lxml import etree

from adapters.codecs.duis.errors import SchemaInvalid, SchemaUnavailable

SCHEMA_FILE: Final = "DUIS Schema V5.4.xsd"
SCHEMA_DIR_SETTING: Final = "ETMAD_DUIS_SCHEMA_DIR"
VECTORS_SETTING: Final = "ETMAD_DCC_VECTORS"
MAX_REPORTED_ERRORS: Final = 5

_XS: Final = "{http://www.w3.org/2001/XMLSchema}"
_PROJECT_ROOT: Final = Path(__file__).resolve().parents[3]
_SHARED_SCHEMA: Final = _PROJECT_ROOT.parent / "shared" / "vectors" / "dcc" / "duis" / "schema"


def schema_folder(folder: str | Path | None = None, env: Mapping[str, str] | None = None) -> Path:
    """The schema folder by the order above; raises ``SchemaUnavailable`` when none is found."""
    env = os.environ if env is None else env
    if folder is not None:
        return Path(folder)
    if env.get(SCHEMA_DIR_SETTING):
        return Path(env[SCHEMA_DIR_SETTING])
    if env.get(VECTORS_SETTING):
        return Path(env[VECTORS_SETTING]) / "duis" / "schema"
    if (_SHARED_SCHEMA / SCHEMA_FILE).is_file():
        return _SHARED_SCHEMA
    raise SchemaUnavailable(
        f"no DUIS XML Schema folder: pass --schema-dir or set {SCHEMA_DIR_SETTING} to a folder "
        f"holding {SCHEMA_FILE!r} and the schemas it imports"
    )


class _FolderResolver(etree.Resolver):
    """Resolves schema imports to files inside one folder, and nothing else."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        self.refused: list[str] = []

    def resolve(  # type: ignore[override]  # lxml's type hints omit the context argument
        self,
        system_url: str,
        public_id: str | None,  # noqa: ARG002 — part of lxml's protocol
        context: Any,  # noqa: ANN401 — lxml's opaque parser context
    ) -> Any:  # noqa: ANN401 — lxml's opaque resolved-input object
        path = Path(unquote(urlparse(system_url).path if "://" in system_url else system_url))
        candidate = (self.folder / path.name).resolve()
        if path.resolve() == candidate and candidate.is_file():
            return self.resolve_filename(str(candidate), context)  # type: ignore[attr-defined]
        self.refused.append(system_url)
        return self.resolve_string("", context, base_url=None)


@attrs.frozen(eq=False)
class CompiledSchema:
    """A compiled XML Schema, safe to share between threads (an ``XMLSchema`` keeps its error
    log on itself); also used by the formats etmad defines (``adapters/codecs/cos_artefacts``)."""

    _schema: etree.XMLSchema = attrs.field(repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, repr=False)

    def errors(self, root: etree._Element) -> list[str]:
        """Why ``root`` is not valid (empty when it is), as ``line N: message``."""
        with self._lock:
            if self._schema.validate(root):
                return []
            log: Any = self._schema.error_log  # lxml's type hints do not make the log iterable
            return [f"line {e.line}: {e.message}" for e in log]

    def validate(self, root: etree._Element, *, heading: str) -> None:
        """Raise ``SchemaInvalid`` naming the first errors unless ``root`` is valid; the
        message reads "``heading``: line N: ..."."""
        found = self.errors(root)
        if found:
            more = len(found) - MAX_REPORTED_ERRORS
            raise SchemaInvalid(
                f"{heading}: "
                + "; ".join(found[:MAX_REPORTED_ERRORS])
                + (f" (and {more} more)" if more > 0 else "")
            )


@attrs.frozen(eq=False)
class DuisSchema:
    """The compiled DUIS XML Schema of one folder."""

    folder: Path
    _schema: etree.XMLSchema = attrs.field(repr=False)
    _compiled: CompiledSchema = attrs.field(init=False, repr=False)

    @_compiled.default
    def _compile(self) -> CompiledSchema:
        return CompiledSchema(self._schema)

    def errors(self, root: etree._Element) -> list[str]:
        """Why ``root`` is not valid (empty when it is), as ``line N: message``."""
        return self._compiled.errors(root)

    def validate(self, root: etree._Element) -> None:
        """Raise ``SchemaInvalid`` naming the first errors unless ``root`` is valid."""
        self._compiled.validate(root, heading="not valid against the DUIS XML Schema 5.4")


_CACHE: dict[Path, DuisSchema] = {}
_CACHE_LOCK = threading.Lock()


def _compile(folder: Path) -> DuisSchema:
    main = folder / SCHEMA_FILE
    if not main.is_file():
        raise SchemaUnavailable(f"DUIS XML Schema folder {folder} has no {SCHEMA_FILE!r}")
    resolver = _FolderResolver(folder)
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    parser.resolvers.add(resolver)
    try:
        document = etree.parse(str(main), parser)
        for element in document.getroot().iter(f"{_XS}import", f"{_XS}include"):
            location = element.get("schemaLocation")
            if location is not None:
                element.set("schemaLocation", quote(location))
        schema = etree.XMLSchema(document)
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError, OSError) as e:
        refused = f" (refused to load {', '.join(resolver.refused)})" if resolver.refused else ""
        raise SchemaUnavailable(
            f"DUIS XML Schema in {folder} does not compile: {e}{refused}"
        ) from None
    return DuisSchema(folder, schema)


def load_schema(folder: str | Path | None = None) -> DuisSchema:
    """The compiled schema of ``folder`` (or of the configured folder), compiled once."""
    resolved = schema_folder(folder).resolve()
    with _CACHE_LOCK:
        found = _CACHE.get(resolved)
        if found is None:
            found = _CACHE[resolved] = _compile(resolved)
        return found
