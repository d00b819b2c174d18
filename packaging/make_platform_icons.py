"""Build the Windows .ico and macOS .icns app icons from resources/icons/app-<size>.png.

    python packaging/make_platform_icons.py          # rewrite packaging/icons/*
    python packaging/make_platform_icons.py --check  # exit 1 if they are out of date

Both formats may carry PNG payloads as they are (ICO since Windows Vista, ICNS since OS X 10.7),
so no image library is needed: the files are assembled byte for byte from the PNGs that
resources/make_icons.py renders. Run it after the app icon changes; build.sh checks it.
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "resources" / "icons"
OUT = ROOT / "packaging" / "icons"
ICO = OUT / "workbooks-connector.ico"
ICNS = OUT / "workbooks-connector.icns"

ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
# ICNS PNG element types -> pixel size (the @2x types reuse the larger PNGs)
ICNS_TYPES = (("icp4", 16), ("icp5", 32), ("icp6", 64), ("ic07", 128), ("ic08", 256),
              ("ic11", 32), ("ic12", 64), ("ic13", 256))

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    if not data.startswith(PNG_MAGIC) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def _png(size: int) -> bytes:
    path = SOURCE / f"app-{size}.png"
    data = path.read_bytes()
    if png_size(data) != (size, size):
        raise ValueError(f"{path} is not {size}x{size}")
    return data


def build_ico() -> bytes:
    images = [_png(s) for s in ICO_SIZES]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries, payload = b"", b""
    for size, data in zip(ICO_SIZES, images):
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
        payload += data
    return header + entries + payload


def build_icns() -> bytes:
    body = b"".join(kind.encode("ascii") + struct.pack(">I", len(data) + 8) + data
                    for kind, data in ((k, _png(s)) for k, s in ICNS_TYPES))
    return b"icns" + struct.pack(">I", len(body) + 8) + body


def main(argv: list[str]) -> int:
    wanted = {ICO: build_ico(), ICNS: build_icns()}
    if "--check" in argv:
        stale = [p for p, data in wanted.items() if not p.exists() or p.read_bytes() != data]
        for p in stale:
            print(f"out of date: {p.relative_to(ROOT)} (run python packaging/make_platform_icons.py)",
                  file=sys.stderr)
        return 1 if stale else 0
    OUT.mkdir(parents=True, exist_ok=True)
    for path, data in wanted.items():
        path.write_bytes(data)
        print(f"wrote {path.relative_to(ROOT)} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
