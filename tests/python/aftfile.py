"""Test helper: edit one section of an aftershock file and re-seal it (section, table and
header CRC32C recomputed), to build files that pass every checksum but break a structural
invariant — what a buggy writer or a hostile file would look like."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def sections(data: bytes) -> dict[str, tuple[int, int, int]]:
    """tag -> (table entry position, payload offset, payload length)."""
    count, table = struct.unpack_from("<IQ", data, 20)
    out = {}
    for i in range(count):
        pos = table + 32 * i
        tag = data[pos : pos + 4].decode()
        offset, length = struct.unpack_from("<QQ", data, pos + 8)
        out[tag] = (pos, offset, length)
    return out


def edit_section(data: bytes, tag: str, dtype, edit) -> bytes:
    """Returns a copy of `data` where section `tag`, viewed as `dtype`, went through
    `edit(array)` (in place, same length), with every checksum made valid again."""
    buf = bytearray(data)
    pos, offset, length = sections(data)[tag]
    payload = np.frombuffer(bytes(buf[offset : offset + length]), dtype=dtype).copy()
    edit(payload)
    buf[offset : offset + length] = payload.tobytes()
    struct.pack_into("<I", buf, pos + 24, crc32c(bytes(buf[offset : offset + length])))
    count, table = struct.unpack_from("<IQ", buf, 20)
    struct.pack_into("<I", buf, 40, crc32c(bytes(buf[table : table + 32 * count])))
    struct.pack_into("<I", buf, 60, crc32c(bytes(buf[:60])))
    return bytes(buf)


def rename_section(data: bytes, tag: str, new_tag: str) -> bytes:
    """Returns a copy of `data` where section `tag` is called `new_tag`, checksums valid."""
    buf = bytearray(data)
    pos = sections(data)[tag][0]
    buf[pos : pos + 4] = new_tag.encode()
    count, table = struct.unpack_from("<IQ", buf, 20)
    struct.pack_into("<I", buf, 40, crc32c(bytes(buf[table : table + 32 * count])))
    struct.pack_into("<I", buf, 60, crc32c(bytes(buf[:60])))
    return bytes(buf)


def replace_sections(data: bytes, payloads: dict[str, bytes]) -> bytes:
    """Returns `data` rewritten with new payloads (any length) for the named sections, laid
    out as the writer does (table after the header, sections 64-byte aligned), with every
    checksum valid: for files that are consistent in form but not in meaning."""
    count, table = struct.unpack_from("<IQ", data, 20)
    entries = []
    for i in range(count):
        pos = table + 32 * i
        tag = data[pos : pos + 4].decode()
        (dtype,) = struct.unpack_from("<H", data, pos + 4)
        offset, length = struct.unpack_from("<QQ", data, pos + 8)
        entries.append((tag, dtype, payloads.get(tag, data[offset : offset + length])))

    def align(n):
        return (n + 63) // 64 * 64

    offset = align(64 + 32 * count)
    table_bytes = bytearray()
    for tag, dtype, payload in entries:
        table_bytes += tag.encode() + struct.pack("<HHQQII", dtype, 0, offset, len(payload), crc32c(payload), 0)
        offset = align(offset + len(payload))
    out = bytearray(data[:64]) + table_bytes
    for tag, dtype, payload in entries:
        out += bytes(align(len(out)) - len(out)) + payload
    out += bytes(align(len(out)) - len(out))
    struct.pack_into("<IQQ", out, 20, count, 64, len(out))
    struct.pack_into("<I", out, 40, crc32c(bytes(table_bytes)))
    struct.pack_into("<I", out, 60, crc32c(bytes(out[:60])))
    return bytes(out)


def assert_every_byte_flip_refused(path, load, error) -> None:
    """Flip each byte of the file at ``path`` in place, one at a time (restored after):
    ``load(str(path), mmap=True, verify=True)`` and ``load(str(path), mmap=True).verify()``
    must both raise ``error`` for every one; the intact file then verifies. ``load`` is a
    core class's load (thousands of calls)."""
    with open(path, "rb") as f:
        data = f.read()
    fd = os.open(path, os.O_RDWR)
    try:
        for pos in range(len(data)):
            os.pwrite(fd, bytes([data[pos] ^ 0x41]), pos)
            with pytest.raises(error):
                load(str(path), mmap=True, verify=True)
            with pytest.raises(error):
                load(str(path), mmap=True).verify()
            os.pwrite(fd, data[pos : pos + 1], pos)
    finally:
        os.close(fd)
    load(str(path), mmap=True).verify()
