"""Byte-level primitives of the .dinr format: little-endian integers, LEB128 varints, strings.

Every reader failure is a :class:`DinrError` with one human-readable line, because a
malformed file is user input, not a programming error. See ``bitstream_spec.md`` section 2.
"""

from __future__ import annotations

MAX_VARINT_BYTES = 10
MAX_VARINT = (1 << 63) - 1  # varints must fit a signed 64-bit integer
_SLEB_MIN = -(1 << 62)
_SLEB_MAX = (1 << 62) - 1


class DinrError(ValueError):
    """A .dinr file is malformed, truncated, corrupt or too new; the message is one line."""


def uleb_bytes(value: int) -> bytes:
    """Unsigned LEB128: 7 bits per byte, least significant group first, shortest form."""
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"uleb value out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def zigzag(value: int) -> int:
    """Map signed to unsigned so that small magnitudes stay small: 0,-1,1,-2 -> 0,1,2,3."""
    if not _SLEB_MIN <= value <= _SLEB_MAX:
        raise ValueError(f"sleb value out of range: {value}")
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(value: int) -> int:
    return value >> 1 if not value & 1 else -((value + 1) >> 1)


def uleb_len(value: int) -> int:
    """Number of bytes ``uleb_bytes(value)`` takes."""
    return max(1, (value.bit_length() + 6) // 7)


class ByteWriter:
    """Append-only builder for the primitive types of the format."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def u8(self, value: int) -> ByteWriter:
        if not 0 <= value <= 0xFF:
            raise ValueError(f"u8 out of range: {value}")
        self._buf.append(value)
        return self

    def u16(self, value: int) -> ByteWriter:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"u16 out of range: {value}")
        self._buf += value.to_bytes(2, "little")
        return self

    def u32(self, value: int) -> ByteWriter:
        if not 0 <= value <= 0xFFFFFFFF:
            raise ValueError(f"u32 out of range: {value}")
        self._buf += value.to_bytes(4, "little")
        return self

    def uleb(self, value: int) -> ByteWriter:
        self._buf += uleb_bytes(value)
        return self

    def sleb(self, value: int) -> ByteWriter:
        self._buf += uleb_bytes(zigzag(value))
        return self

    def string(self, text: str) -> ByteWriter:
        data = text.encode("utf-8")
        self.uleb(len(data))
        self._buf += data
        return self

    def raw(self, data: bytes | bytearray | memoryview) -> ByteWriter:
        self._buf += data
        return self


class ByteReader:
    """Cursor over a bytes object; ``what`` names the structure in error messages."""

    def __init__(self, data: bytes | bytearray | memoryview, what: str = "data") -> None:
        self._data = memoryview(data).cast("B") if not isinstance(data, bytes) else data
        self._pos = 0
        self.what = what

    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def at_end(self) -> bool:
        return self._pos >= len(self._data)

    def _truncated(self) -> DinrError:
        return DinrError(f"truncated .dinr: {self.what} ends early")

    def _take(self, n: int) -> bytes:
        if n < 0 or n > self.remaining:
            raise self._truncated()
        out = bytes(self._data[self._pos : self._pos + n])
        self._pos += n
        return out

    def u8(self) -> int:
        if self._pos >= len(self._data):
            raise self._truncated()
        value = self._data[self._pos]
        self._pos += 1
        return value

    def u16(self) -> int:
        return int.from_bytes(self._take(2), "little")

    def u32(self) -> int:
        return int.from_bytes(self._take(4), "little")

    def uleb(self) -> int:
        value = 0
        for i in range(MAX_VARINT_BYTES):
            byte = self.u8()
            value |= (byte & 0x7F) << (7 * i)
            if not byte & 0x80:
                if byte == 0 and i > 0:
                    raise DinrError(f"corrupt .dinr: non-minimal varint in {self.what}")
                if value > MAX_VARINT:
                    raise DinrError(f"corrupt .dinr: varint too large in {self.what}")
                return value
        raise DinrError(
            f"corrupt .dinr: varint longer than {MAX_VARINT_BYTES} bytes in {self.what}")

    def sleb(self) -> int:
        return unzigzag(self.uleb())

    def string(self, max_bytes: int | None = None) -> str:
        n = self.uleb()
        if max_bytes is not None and n > max_bytes:
            raise DinrError(
                f"corrupt .dinr: string of {n} bytes in {self.what} (limit {max_bytes})")
        data = self._take(n)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise DinrError(f"corrupt .dinr: invalid UTF-8 in {self.what}") from None

    def raw(self, n: int) -> bytes:
        return self._take(n)

    def rest(self) -> bytes:
        return self._take(self.remaining)
