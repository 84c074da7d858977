"""Sample report files for the tests: real PDF/DOCX/XLSX shapes and the hostile look-alikes."""

from __future__ import annotations

import io
import zipfile

from openpyxl import Workbook

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
# The first bytes of a Windows executable: what a renamed .exe starts with.
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"This program cannot be run in DOS mode."
)


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            # A fixed date: the same entries give the same bytes (and SHA-256) whenever they are built.
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def docx() -> bytes:
    return zip_of(
        {
            "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": "<w:document><w:body>专项研判报告</w:body></w:document>".encode(),
        }
    )


def xlsx() -> bytes:
    workbook = Workbook()
    workbook.active.append(["年度风险评估", 2025])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def plain_zip() -> bytes:
    return zip_of({"readme.txt": b"not an office document"})


def traversal_docx() -> bytes:
    return zip_of(
        {
            "[Content_Types].xml": b"<Types/>",
            "word/document.xml": b"<w:document/>",
            "../../evil.sh": b"rm -rf /",
        }
    )


def absolute_docx() -> bytes:
    return zip_of({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>", "/etc/cron.d/x": b"x"})


def macro_xlsx() -> bytes:
    return zip_of({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>", "xl/vbaProject.bin": b"\0"})
