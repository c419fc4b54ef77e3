"""The form controls of an HTML page as the browser gets them: to compare a page with its form."""

from __future__ import annotations

from html.parser import HTMLParser


class FormControls(HTMLParser):
    """Each named input, textarea and select's attributes, the option values of each select,
    the values of each group of radio buttons, and every element's id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.attributes: dict[str, dict[str, str | None]] = {}
        self.options: dict[str, list[str]] = {}
        self.radios: dict[str, list[str]] = {}
        self.ids: set[str] = set()
        self.described_by: list[tuple[str, str]] = []  # (element, an id it names)
        self._select: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        name = attributes.get("name")
        if attributes.get("id"):
            self.ids.add(attributes["id"] or "")
        for described in (attributes.get("aria-describedby") or "").split():
            self.described_by.append((f"{tag} {name or attributes.get('id') or ''}", described))
        if tag == "input" and attributes.get("type") == "radio" and name:
            self.radios.setdefault(name, []).append(attributes.get("value") or "")
        if tag in {"input", "textarea", "select"} and name:
            self.attributes[name] = attributes
            if tag == "select":
                self._select = name
                self.options[name] = []
        elif tag == "option" and self._select is not None:
            self.options[self._select].append(attributes.get("value") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
