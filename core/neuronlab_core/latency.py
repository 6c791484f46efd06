"""Every latency of a configuration, kept as an HDR histogram (the `hdrhistogram` package, HdrHistogram's
Python port): about 2 KB encoded for 20 000 samples, exact to 3 significant digits, and mergeable.

Values are microseconds from 1 us to one hour. hdrh is imported on first use: most of the code that
imports neuronlab_core never reads a histogram.
"""

from __future__ import annotations

import base64
import binascii
import struct
import zlib
from collections.abc import Iterable
from typing import Any

LOWEST_US = 1
HIGHEST_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3
# A 10-second run at 0.1 ms per inference on 64 threads encodes to well under this
MAX_ENCODED_CHARS = 64 * 1024
# The wire format (HdrHistogram V2, as hdrh writes it): a header (cookie, compressed length), then zlib data
# holding the payload header (cookie, payload length, normalizing offset, significant digits, lowest and highest
# trackable value, conversion ratio) and the counts. Our range and precision decompress to at most ~400 KB.
_OUTER = struct.Struct(">II")
_PAYLOAD = struct.Struct(">IIIIQQd")
MAX_PAYLOAD_BYTES = 512 * 1024


def encode(latencies_ns: Iterable[int]) -> str:
    """The histogram of `latencies_ns` (nanoseconds, as the harness measures them), base64 text."""
    from hdrh.histogram import HdrHistogram

    histogram = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for value in latencies_ns:
        histogram.record_value(min(max(int(value) // 1000, LOWEST_US), HIGHEST_US))
    return histogram.encode().decode("ascii")


def _check_header(text: str) -> None:
    """The histogram's range and precision, read before hdrh allocates: they size the counts array it builds
    (5 digits over the widest range: 47 MiB from a 52-character text), and its zlib payload could inflate without
    bound. Anyone may import a result, so both are checked on the bytes first."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
        inflater = zlib.decompressobj()
        payload = inflater.decompress(raw[_OUTER.size:], MAX_PAYLOAD_BYTES + 1)
    except (UnicodeEncodeError, binascii.Error, zlib.error) as error:
        raise ValueError(f"not an encoded HDR histogram ({type(error).__name__})") from None
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"the histogram's payload is over {MAX_PAYLOAD_BYTES} bytes decompressed")
    if len(raw) < _OUTER.size or len(payload) < _PAYLOAD.size:
        raise ValueError("not an encoded HDR histogram (too short)")
    _, _, _, digits, lowest, highest, _ = _PAYLOAD.unpack_from(payload)
    if (lowest, highest, digits) != (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS):
        raise ValueError(f"an HDR histogram of {LOWEST_US}-{HIGHEST_US} us at {SIGNIFICANT_DIGITS} significant "
                         "digits is expected")


def decode(text: str) -> Any:
    """An HdrHistogram from `encode`'s text; ValueError names what is wrong with it."""
    from hdrh.histogram import HdrHistogram

    _check_header(text)
    try:
        histogram = HdrHistogram.decode(text.encode("ascii"))
    except Exception as error:  # hdrh raises zlib, struct, binascii and its own errors alike
        raise ValueError(f"not an encoded HDR histogram ({type(error).__name__})") from None
    if (histogram.lowest_trackable_value, histogram.highest_trackable_value,
            histogram.significant_figures) != (LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS):
        raise ValueError(f"an HDR histogram of {LOWEST_US}-{HIGHEST_US} us at {SIGNIFICANT_DIGITS} significant "
                         "digits is expected")
    if histogram.get_total_count() < 1:
        raise ValueError("the histogram is empty")
    return histogram


def recorded(text: str) -> list[tuple[int, int]]:
    """(microseconds, count) for every distinct value recorded, smallest first."""
    return [(item.value_iterated_to, item.count_at_value_iterated_to)
            for item in decode(text).get_recorded_iterator()]


def percentile_ms(text: str, percentile: float) -> float:
    return float(decode(text).get_value_at_percentile(percentile)) / 1000
