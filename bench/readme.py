"""bench/README.md, rewritten one `## ` section at a time."""

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_section(heading: str, text: str) -> None:
    """Replace the section that starts with `heading` by `text` (or append
    it), keeping every other section as it is."""
    current = README.read_text()
    start = current.find(heading)
    if start < 0:
        README.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = current.find("\n## ", start + len(heading))
    tail = current[end + 1 :] if end >= 0 else ""
    README.write_text(current[:start] + text + ("\n" + tail if tail else ""))
