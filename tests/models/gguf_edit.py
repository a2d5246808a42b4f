"""Write a copy of a GGUF file with one string of its metadata replaced (tests only).

Used to give SmolLM2 a chat template that knows tools, so llama.cpp's own tool-call
path runs on the small model. Tensor offsets are relative to the data section, so the
data is copied unchanged after the rewritten header, re-padded to the file's alignment.
"""

from __future__ import annotations

import shutil
import struct
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _skip_value(file: IO[bytes], kind: int) -> None:
    if kind == 8:
        (length,) = struct.unpack("<Q", file.read(8))
        file.seek(length, 1)
    elif kind == 9:
        item, count = struct.unpack("<IQ", file.read(12))
        if item in _SIZES:
            file.seek(count * _SIZES[item], 1)
        else:
            for _ in range(count):
                _skip_value(file, item)
    else:
        file.seek(_SIZES[kind], 1)


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def replace_string(source: Path, target: Path, key: str, value: str) -> None:
    """Copy ``source`` to ``target`` with the string metadata ``key`` set to ``value``."""
    with source.open("rb") as file:
        header = file.read(24)
        _, _, tensors, count = struct.unpack("<4sIQQ", header)
        entries: list[bytes] = []
        alignment = 32
        found = False
        for _ in range(count):
            start = file.tell()
            (length,) = struct.unpack("<Q", file.read(8))
            name = file.read(length).decode()
            (kind,) = struct.unpack("<I", file.read(4))
            value_start = file.tell()
            _skip_value(file, kind)
            end = file.tell()
            if name == "general.alignment":
                file.seek(value_start)
                (alignment,) = struct.unpack("<I", file.read(4))
                file.seek(end)
            if name == key:
                entries.append(_string(key) + struct.pack("<I", 8) + _string(value))
                found = True
            else:
                file.seek(start)
                entries.append(file.read(end - start))
        assert found, f"{source} has no {key}"
        infos_start = file.tell()
        for _ in range(tensors):
            (length,) = struct.unpack("<Q", file.read(8))
            file.seek(length, 1)
            (dims,) = struct.unpack("<I", file.read(4))
            file.seek(8 * dims + 4 + 8, 1)
        infos_end = file.tell()
        file.seek(infos_start)
        infos = file.read(infos_end - infos_start)
        data_start = -(-infos_end // alignment) * alignment
        new_header = header + b"".join(entries) + infos
        padding = b"\0" * (-len(new_header) % alignment)
        with target.open("wb") as out:
            out.write(new_header + padding)
            file.seek(data_start)
            shutil.copyfileobj(file, out, 1 << 20)
