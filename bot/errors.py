"""The small set of errors a user (or the model) can cause, each with a sentence fit to show them.

Anything else is a bug: it is logged with its traceback and the user gets a generic apology.
"""

from __future__ import annotations

import errno


class KratosError(Exception):
    """Base class: ``str(error)`` is a clear sentence meant for the person who caused it."""

    #: Exit code for the CLI.
    exit_code = 1


class ConfigError(KratosError):
    """A setting is missing or malformed, or a configured file cannot be used."""

    exit_code = 2


class CatalogError(KratosError):
    """The catalog database is missing, unreadable or not a catalog."""

    exit_code = 2


class MigrationError(KratosError):
    """A migration failed; the database stays at its previous version."""

    exit_code = 2


class RequestRefused(KratosError):
    """A request that KRATOS will not carry out (refused SQL, an over-budget user)."""


class UserFacingError(RequestRefused):
    """A refusal or failure worded for a chat user, in Spanish and English.

    ``str(error)`` is the English text (CLI, logs); ``user_message(language)`` picks by the
    user's language, Spanish unless it is English.
    """

    def __init__(self, es: str, en: str) -> None:
        super().__init__(en)
        self.es = es
        self.en = en

    def user_message(self, language: str = "es") -> str:
        return self.en if language.lower().startswith("en") else self.es


#: What the system's usual refusals mean, said to the owner (``strerror`` is English).
_OS_REASONS = {
    errno.EACCES: "este usuario no tiene permiso", errno.EPERM: "este usuario no tiene permiso",
    errno.ENOENT: "no existe", errno.ENOTDIR: "una parte de la ruta no es una carpeta",
    errno.EISDIR: "es una carpeta", errno.EROFS: "el disco es de solo lectura",
    errno.ENOSPC: "el disco está lleno", errno.ENAMETOOLONG: "el nombre es demasiado largo",
}


def os_reason(error: OSError) -> str:
    """Why the system refused a file, in Spanish: the usual causes by their ``errno``, others
    by the errno's name (``EIO``), which an owner can look up."""
    reason = _OS_REASONS.get(error.errno or 0)
    if reason:
        return reason
    name = errno.errorcode.get(error.errno or 0)
    return f"error del sistema {name}" if name else "error del sistema"



#: What SQLite's usual refusals of a database file mean, said to the owner (its own text is
#: English), by the error's primary result code.
_SQLITE_REASONS = {
    "SQLITE_BUSY": "otro programa lo tiene bloqueado",
    "SQLITE_LOCKED": "otro programa lo tiene bloqueado",
    "SQLITE_CANTOPEN": "no es un archivo que SQLite pueda abrir",
    "SQLITE_NOTADB": "no es una base de datos SQLite",
    "SQLITE_CORRUPT": "el archivo está dañado",
    "SQLITE_IOERR": "falló la lectura o escritura del disco",
    "SQLITE_READONLY": "es de solo lectura",
    "SQLITE_FULL": "el disco está lleno",
    "SQLITE_PERM": "este usuario no tiene permiso",
    "SQLITE_NOMEM": "no alcanzó la memoria",
}


def sqlite_reason(error: Exception) -> str:
    """Why SQLite refused a database file, in Spanish: the usual causes by their primary result
    code (``sqlite3.Error.sqlite_errorname``, Python >= 3.11: ``SQLITE_IOERR_SHORT_READ`` is an
    ``SQLITE_IOERR``), others by the code's name, which an owner can look up."""
    name = getattr(error, "sqlite_errorname", None) or ""
    reason = _SQLITE_REASONS.get("_".join(name.split("_")[:2]))
    if reason:
        return reason
    return f"error de SQLite {name}" if name else "error de SQLite"
