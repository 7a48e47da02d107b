#!/usr/bin/env python3
"""Keeps the code blocks in docs/*.md identical to the compiled examples.

A block in a Markdown file written as

    <!-- include: examples/radon.rs#model -->
    ```rust
    ...
    ```
    <!-- end include -->

is replaced by the lines between `// ANCHOR: model` and `// ANCHOR_END: model` in that source
file (anchor lines themselves dropped, common indentation removed). With `--check`, nothing is
written and the exit status is 1 when a block is out of date (CI runs this).
"""
import pathlib
import re
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"(<!-- include: (?P<path>[^#\s]+)#(?P<anchor>[\w-]+) -->\n)```(?P<lang>\w*)\n.*?```\n(<!-- end include -->)", re.S)


def excerpt(path: str, anchor: str) -> str:
    lines = (ROOT / path).read_text().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.strip() == f"// ANCHOR: {anchor}")
        end = next(i for i, l in enumerate(lines) if l.strip() == f"// ANCHOR_END: {anchor}")
    except StopIteration:
        sys.exit(f"sync_docs: anchor `{anchor}` not found in {path}")
    body = [l for l in lines[start + 1:end] if not l.strip().startswith("// ANCHOR")]
    return textwrap.dedent("\n".join(body)).strip("\n") + "\n"


def main() -> int:
    check = "--check" in sys.argv
    stale = []
    for md in sorted((ROOT / "docs").glob("*.md")):
        text = md.read_text()
        new = BLOCK.sub(lambda m: f"{m.group(1)}```{m.group('lang')}\n{excerpt(m.group('path'), m.group('anchor'))}```\n<!-- end include -->", text)
        if new != text:
            stale.append(md.relative_to(ROOT))
            if not check:
                md.write_text(new)
    if check and stale:
        print("sync_docs: out of date (run python3 scripts/sync_docs.py):", *map(str, stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
