"""Rebuild the prior's photo corpus from the Debian packages pinned in corpus_manifest.json.

    python scripts/prior_corpus.py [--out DIR] [--cache DIR] [--short-side 768] [--check] [--list]

Each pinned .deb is fetched with ``apt-get download PKG=VERSION`` into the cache (kept, so a
rebuild downloads nothing) and must match its SHA-256; each photograph is read from the
package (from inside a Qt resource file for GCompris) and must match its own. The output is
one PNG per photograph (lossless, so no second JPEG generation), RGB, turned upright, and
scaled with Lanczos so that the short side is at most --short-side pixels (0 keeps the size),
plus ``corpus.json``: what each file is, its licence, credit and split. Pillow decodes and
scales when it is installed, PyAV otherwise; the record names which, since their pixels differ.

--check verifies the .debs and the photographs (and a built corpus.json's files, if there is
one) and writes nothing; --list prints the pinned table (Markdown) without any download. A hash
that does not match is a one-line error and exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import struct
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

from exvc.prior.corpus import BUILT_FILE, CACHE, MANIFEST, Deb, Manifest, Photo, load_manifest


class CorpusError(Exception):
    """A failure the script reports in one line (exit status 1)."""


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes, expected: str, what: str) -> bytes:
    """The data itself when its SHA-256 is the pinned one; CorpusError otherwise."""
    got = sha256(data)
    if got != expected:
        raise CorpusError(f"{what}: SHA-256 is {got}, the manifest pins {expected}")
    return data


def verify_file(path: Path, expected: str) -> None:
    verify(Path(path).read_bytes(), expected, str(path))


def fetch_deb(deb: Deb, cache: Path) -> Path:
    """The verified .deb in the cache, downloaded first if it is not there."""
    path = cache / deb.filename
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(["apt-get", "download", deb.apt_spec], cwd=cache,
                             capture_output=True, text=True)
        if run.returncode != 0 or not path.exists():
            lines = run.stderr.strip().splitlines() or ["no output"]
            last = ([line for line in lines if line.startswith("E:")] or lines)[-1]
            raise CorpusError(f"apt-get download {deb.apt_spec} failed: {last}")
    try:
        verify_file(path, deb.sha256)
    except CorpusError as e:
        raise CorpusError(f"{e} (delete it to download again)") from None
    return path


def read_deb(path: Path, members: set[str]) -> dict[str, bytes]:
    """The named regular files of a .deb's data archive, streamed through dpkg-deb."""
    found: dict[str, bytes] = {}
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(path)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as proc:
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
                for info in tar:
                    name = info.name.removeprefix("./")
                    if name in members:
                        if not info.isfile():
                            raise CorpusError(f"{path.name}: {name} is not a regular file")
                        found[name] = tar.extractfile(info).read()
        except tarfile.TarError as e:
            why = proc.stderr.read().decode(errors="replace").strip() or str(e)
            raise CorpusError(f"{path.name}: {why.splitlines()[-1]}") from None
    missing = sorted(members - found.keys())
    if missing:
        raise CorpusError(f"{path.name}: {missing[0]} is not in the package")
    return found


def rcc_member(blob: bytes, member: str) -> bytes:
    """One file from a Qt resource file (format 1 to 3; zlib-compressed entries inflated)."""
    if blob[:4] != b"qres":
        raise CorpusError("not a Qt resource file")
    version, tree, data, names = struct.unpack_from(">4I", blob, 4)
    size = 14 if version == 1 else 22

    def name(node: int) -> str:
        off = names + struct.unpack_from(">I", blob, tree + node * size)[0]
        length = struct.unpack_from(">H", blob, off)[0]
        return blob[off + 6: off + 6 + 2 * length].decode("utf-16-be")

    node = 0
    for part in member.strip("/").split("/"):
        flags, count, first = struct.unpack_from(">HII", blob, tree + node * size + 4)
        child = next((c for c in range(first, first + count) if name(c) == part), None) \
            if flags & 2 else None
        if child is None:
            raise CorpusError(f"{member} is not in the Qt resource file")
        node = child
    flags = struct.unpack_from(">H", blob, tree + node * size + 4)[0]
    if flags & 2:
        raise CorpusError(f"{member} is a folder in the Qt resource file")
    start = data + struct.unpack_from(">I", blob, tree + node * size + 10)[0]
    payload = blob[start + 4: start + 4 + struct.unpack_from(">I", blob, start)[0]]
    if flags & 4:
        raise CorpusError(f"{member} is zstd-compressed, which this script does not read")
    return zlib.decompress(payload[4:]) if flags & 1 else payload


def photo_bytes(photo: Photo, files: dict[str, bytes]) -> bytes:
    data = files[photo.path]
    if photo.member:
        data = rcc_member(data, photo.member)
    where = f"{photo.package}:{photo.path}" + (f":{photo.member}" if photo.member else "")
    return verify(data, photo.sha256, where)


def target_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return ((short_side, max(1, round(height * scale))) if width <= height
            else (max(1, round(width * scale)), short_side))


def backend(choice: str) -> str:
    if choice != "auto":
        return choice
    try:
        import PIL  # noqa: F401
    except ImportError:
        return "av"
    return "pil"


def to_png(data: bytes, rotate: int, short_side: int, how: str) -> tuple[bytes, int, int]:
    """RGB PNG bytes of a photograph, upright and scaled; with its width and height."""
    if how == "pil":
        from PIL import Image

        img = Image.open(io.BytesIO(data))
        img = img.convert("RGB")
        if rotate:  # PIL's ROTATE_n turns counter-clockwise
            img = img.transpose({90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                                 270: Image.Transpose.ROTATE_90}[rotate])
        size = target_size(*img.size, short_side)
        if size != img.size:
            img = img.resize(size, Image.Resampling.LANCZOS)
        out = io.BytesIO()
        img.save(out, format="PNG")
        return out.getvalue(), *img.size
    import av
    import numpy as np

    with av.open(io.BytesIO(data)) as container:
        rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    rgb = np.ascontiguousarray(np.rot90(rgb, -rotate // 90)) if rotate else rgb
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    width, height = target_size(frame.width, frame.height, short_side)
    frame = frame.reformat(width, height, format="rgb24", interpolation="LANCZOS")
    codec = av.CodecContext.create("png", "w")
    codec.width, codec.height, codec.pix_fmt = width, height, "rgb24"
    packets = codec.encode(frame) + codec.encode(None)
    return b"".join(bytes(p) for p in packets), width, height


def list_table(manifest: Manifest) -> str:
    rows = ["| # | package | file | licence | credit | split |", "|---|---|---|---|---|---|"]
    for i, p in enumerate(manifest.photos, 1):
        file = (f"{p.path.rsplit('/', 1)[-1]}:{p.member.split('/activities/')[-1]}" if p.member
                else p.path)
        credit = p.credit.replace("|", "/")
        rows.append(f"| {i} | {p.package} | `{file}` | {p.licence} | {credit} | {p.split} |")
    return "\n".join(rows)


def build(manifest: Manifest, cache: Path, out: Path | None, short_side: int,
          how: str) -> list[dict]:
    """Fetch, verify and (when out is given) write every photograph; the corpus records."""
    records = []
    by_package: dict[str, list[Photo]] = {}
    for p in manifest.photos:
        by_package.setdefault(p.package, []).append(p)
    for package, photos in by_package.items():
        deb = manifest.debs.get(package)
        if deb is None:
            raise CorpusError(f"{package}: no .deb is pinned for it")
        files = read_deb(fetch_deb(deb, cache), {p.path for p in photos})
        for p in photos:
            data = photo_bytes(p, files)
            if out is None:
                continue
            try:
                png, width, height = to_png(data, p.rotate, short_side, how)
            except Exception as e:  # a decoder without WebP, say: name the file, in one line
                raise CorpusError(f"{p.name}: cannot convert it with {how}: {e}") from None
            target = out / f"{p.name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(png)
            records.append({"file": f"{p.name}.png", "split": p.split, "package": package,
                            "version": deb.version, "path": p.path, "member": p.member,
                            "source_sha256": p.sha256, "licence": p.licence, "credit": p.credit,
                            "source": p.source, "width": width, "height": height,
                            "sha256": sha256(png), "bytes": len(png)})
        print(f"{package}: {len(photos)} photographs verified", file=sys.stderr)
    return records


def check_built(out: Path) -> int:
    """Verify a built corpus's files against its corpus.json; how many were checked."""
    record = out / BUILT_FILE
    if not record.exists():
        return 0
    entries = json.loads(record.read_text(encoding="utf-8"))["images"]
    for e in entries:
        verify_file(out / e["file"], e["sha256"])
    return len(entries)


def versions(how: str) -> str:
    if how == "pil":
        import PIL

        return f"Pillow {PIL.__version__}"
    import av

    return f"PyAV {av.__version__}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=CACHE / "images", help="images folder")
    ap.add_argument("--cache", type=Path, default=CACHE / "debs", help="where the .debs are kept")
    ap.add_argument("--manifest", type=Path, default=MANIFEST)
    ap.add_argument("--short-side", type=int, default=768, help="scale down to this (0: keep)")
    ap.add_argument("--backend", choices=("auto", "pil", "av"), default="auto")
    ap.add_argument("--check", action="store_true", help="verify only; write nothing")
    ap.add_argument("--list", action="store_true", help="print the pinned table and exit")
    a = ap.parse_args(argv)
    manifest = load_manifest(a.manifest)
    if a.list:
        print(list_table(manifest))
        return 0
    out, cache = a.out.expanduser(), a.cache.expanduser()
    how = backend(a.backend)
    try:
        records = build(manifest, cache, None if a.check else out, a.short_side, how)
        if a.check:
            built_n = check_built(out)
            print(f"ok: {len(manifest.debs)} .debs and {len(manifest.photos)} photographs match"
                  + (f"; {built_n} built files match {out / BUILT_FILE}" if built_n else ""))
            return 0
    except (CorpusError, OSError) as e:  # OSError: no apt-get or dpkg-deb, a full disk
        print(f"prior_corpus: error: {e}", file=sys.stderr)
        return 1
    (out / BUILT_FILE).write_text(json.dumps({
        "manifest_sha256": sha256(a.manifest.read_bytes()), "short_side": a.short_side,
        "decoder": versions(how), "images": records}, indent=1, ensure_ascii=False) + "\n",
        encoding="utf-8")
    size = sum(r["bytes"] for r in records)
    print(f"wrote {len(records)} photographs ({size / 1e6:.1f} MB) and {BUILT_FILE} to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
