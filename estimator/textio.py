"""Reading user files safely: bounded, regular files only, UTF-8, YAML without duplicate keys or absurd
nesting. Every problem is an InputError that names the file; nothing here can hang or exhaust memory.

A FIFO, a device (`/dev/zero`) or a directory is refused before it is read; at most `limit` + 1 bytes are
ever read, whatever `st_size` says. YAML is parsed with libyaml's `CSafeLoader` where PyYAML has it (the
pure-Python `SafeLoader` otherwise), with a constructor that rejects duplicated keys instead of silently
keeping the last one.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from estimator.errors import InputError

MAX_FILE_BYTES = 1_000_000  # scenarios, profiles and config.json files are a few kB
MAX_NESTING = 64  # real scenarios nest 3 levels deep

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_Base):  # type: ignore[misc]
    """A safe loader whose mappings reject a key given twice."""


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a scalar, got {key!r}", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen[key] = loader.construct_object(value_node, deep=deep)
    return seen


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read_bounded_bytes(path: str | Path, *, limit: int = MAX_FILE_BYTES, what: str = "file") -> bytes:
    """At most `limit` bytes of the regular file `path`; a larger file, a FIFO, a device or a directory is
    an InputError naming it (the check is on the opened file, so nothing can block or stream forever)."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise InputError(f"{p}: cannot read the {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(info.st_mode)
                else "not a regular file (a FIFO, socket or device)"
            )
            raise InputError(f"{p}: the {what} is {kind}; give the path of a file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise InputError(f"{p}: cannot read the {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:
        raise InputError(f"{p}: too large: the {what} is over the {limit:,}-byte limit for a {what}")
    return b"".join(chunks)


def decode_utf8(data: bytes, origin: str) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is allowed); anything else is an InputError saying what it is."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{origin}: the file is UTF-16; save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{origin}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8"
        ) from None


def nesting_depth(value: Any) -> int:
    """How deeply lists and mappings nest in `value` (iterative: any depth is safe to measure)."""
    deepest, stack = 0, [(value, 1)]
    seen: dict[int, int] = {}
    while stack:
        item, depth = stack.pop()
        if seen.get(id(item), 0) >= depth:  # YAML aliases share objects: walk each one once per depth
            continue
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        seen[id(item)] = depth
        deepest = max(deepest, depth)
        if depth > MAX_NESTING:
            return depth
        stack.extend((c, depth + 1) for c in children)
    return deepest


def _check_depth(value: Any, origin: str) -> Any:
    if nesting_depth(value) > MAX_NESTING:
        raise InputError(f"{origin}: lists and mappings nest more than {MAX_NESTING} levels deep")
    return value


def parse_yaml(text: str, origin: str) -> Any:
    """YAML text to Python values (safe tags only, no duplicate keys, bounded nesting)."""
    try:
        value = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
    except RecursionError:
        raise InputError(f"{origin}: lists and mappings nest more than {MAX_NESTING} levels deep") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"{origin}: YAML error{where}: {problem}") from None
    return _check_depth(value, origin)


def parse_json(text: str, origin: str) -> Any:
    """JSON text to Python values (bounded nesting; NaN and Infinity are not JSON)."""

    def no_constants(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=no_constants)
    except RecursionError:
        raise InputError(f"{origin}: lists and objects nest more than {MAX_NESTING} levels deep") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise InputError(f"{origin}: not valid JSON: {exc}") from None
    return _check_depth(value, origin)


def read_yaml(path: str | Path, *, limit: int = MAX_FILE_BYTES, what: str = "YAML file") -> Any:
    """Read and parse a YAML file with every check of this module."""
    p = Path(path)
    return parse_yaml(decode_utf8(read_bounded_bytes(p, limit=limit, what=what), str(p)), str(p))


def read_json(path: str | Path, *, limit: int = MAX_FILE_BYTES, what: str = "JSON file") -> Any:
    """Read and parse a JSON file with every check of this module."""
    p = Path(path)
    return parse_json(decode_utf8(read_bounded_bytes(p, limit=limit, what=what), str(p)), str(p))


def write_dated_record(path: Path, record: dict[str, Any], *, command: str, note: str) -> dict[str, Any]:
    """Write a computed record as YAML with the date, the command that made it and a note; returns it."""
    import datetime

    out = {**record, "date": datetime.date.today().isoformat(), "command": command, "note": note}
    path.write_text(yaml.safe_dump(out, sort_keys=False, allow_unicode=True, width=110), encoding="utf-8")
    return out


def rounded_rows(rows: Any) -> list[dict[str, Any]]:
    """Result rows (`as_dict()`) with floats rounded to 6 digits, for a stored summary."""
    return [{k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.as_dict().items()} for r in rows]
