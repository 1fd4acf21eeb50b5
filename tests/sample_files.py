"""Real files of every supported kind, made with the libraries that write them."""

from __future__ import annotations

import io
import zipfile


def docx_bytes(title: str, paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bytes(lines: list[str], *, width_chars: int = 30) -> bytes:
    """A PDF whose Chinese text is wrapped at ``width_chars`` per line, as printed reports are."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.setFont("STSong-Light", 12)
    y = 800
    for line in lines:
        for start in range(0, max(len(line), 1), width_chars):
            page.drawString(40, y, line[start : start + width_chars])
            y -= 16
        y -= 8
    page.save()
    return out.getvalue()


def html_bytes(body: str, *, charset: str = "utf-8") -> bytes:
    page = (
        f'<!DOCTYPE html><html><head><meta charset="{charset}"><title>通知</title>'
        f"<style>p {{ color: red }}</style><script>var x = '不要读我';</script></head>"
        f"<body>{body}</body></html>"
    )
    return page.encode(charset)


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "not a word document")
    return out.getvalue()
