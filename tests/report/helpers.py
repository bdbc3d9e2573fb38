"""Reading a rendered report back, for the report tests."""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import IndirectObject, StreamObject


def pdf_text(pdf: bytes | Path) -> str:
    """All text of a PDF, pages in order, with whitespace runs folded to one space."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfReader(io.BytesIO(data))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"\s+", " ", text)


def pdf_pages(pdf: bytes | Path) -> list[str]:
    """The text of each page (whitespace folded)."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfReader(io.BytesIO(data))
    return [re.sub(r"\s+", " ", page.extract_text()) for page in reader.pages]


def pdf_metadata(pdf: bytes | Path) -> dict[str, str]:
    """The document information dictionary as plain strings."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfReader(io.BytesIO(data))
    return {str(k): str(v) for k, v in (reader.metadata or {}).items()}


def pdf_all_bytes(pdf: bytes | Path) -> bytes:
    """The raw file plus every stream decoded (except images), to search for leaked strings."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfReader(io.BytesIO(data))
    chunks = [data]
    numbers = sorted({int(m.group(1)) for m in re.finditer(rb"(\d+) 0 obj", data)})
    for number in numbers:
        obj = reader.get_object(IndirectObject(number, 0, reader))
        if isinstance(obj, StreamObject) and obj.get("/Subtype") != "/Image":
            chunks.append(obj.get_data())
    return b"\n".join(chunks)


def pdf_images(pdf: bytes | Path) -> list[bytes]:
    """The bytes of every image embedded in the PDF (JPEG data as stored)."""
    data = pdf.read_bytes() if isinstance(pdf, Path) else pdf
    reader = PdfReader(io.BytesIO(data))
    return [image.data for page in reader.pages for image in page.images]
