"""What nfhub checks of a compute environment's Nextflow config text before a run gets it.

Not a Groovy parser: the checks a config must pass for Nextflow to read it at all (braces,
brackets and parentheses balanced, strings and block comments closed), and that it leaves
nfhub's own settings alone (the weblog carries the run's events and secret, and is nfhub's).
"""

from __future__ import annotations

import re

MAX_CONFIG_BYTES = 64 * 1024
OPENERS = {"{": "}", "[": "]", "(": ")"}
CLOSERS = {close: open_ for open_, close in OPENERS.items()}
# `weblog { … }`, `weblog.url = …`, a -with-weblog in a string: each would send the run's
# events elsewhere, or nowhere.
WEBLOG = re.compile(r"\bweblog\s*[{.]")
WITH_WEBLOG = "-with-weblog"


def _strip(text: str) -> tuple[str, list[str]]:
    """The text with comments and string contents blanked out (line numbers kept), and the
    problems met on the way (an unclosed string or comment)."""
    out: list[str] = []
    problems: list[str] = []
    index, line, length = 0, 1, len(text)
    while index < length:
        char = text[index]
        if text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        if text.startswith("/*", index):
            end = text.find("*/", index + 2)
            if end < 0:
                problems.append(f"line {line}: a /* comment is never closed")
                break
            skipped = text[index : end + 2]
            line += skipped.count("\n")
            out.append("\n" * skipped.count("\n"))
            index = end + 2
            continue
        quote = next((q for q in ("'''", '"""', "'", '"') if text.startswith(q, index)), None)
        if quote is not None:
            start_line = line
            cursor = index + len(quote)
            closed = False
            while cursor < length:
                if text[cursor] == "\\":
                    cursor += 2
                    continue
                if text.startswith(quote, cursor):
                    closed = True
                    break
                if text[cursor] == "\n":
                    if len(quote) == 1:
                        break  # a one-quote string ends at the line
                    line += 1
                    out.append("\n")
                cursor += 1
            if not closed:
                problems.append(f"line {start_line}: a string opened with {quote} is never closed")
                break
            out.append('""')  # a string stays a token, its text does not count
            index = cursor + len(quote)
            continue
        if char == "\n":
            line += 1
        out.append(char)
        index += 1
    return "".join(out), problems


def config_problems(text: str) -> list[str]:
    """Why Nextflow would refuse ``text`` (or nfhub must), each naming the line; [] if fine."""
    problems: list[str] = []
    if len(text.encode()) > MAX_CONFIG_BYTES:
        return [f"the config is over {MAX_CONFIG_BYTES // 1024} KiB"]
    if WITH_WEBLOG in text:
        problems.append("-with-weblog is nfhub's: a run's events go to nfhub, remove it")
    code, problems_in_strings = _strip(text)
    problems += problems_in_strings
    stack: list[tuple[str, int]] = []
    line = 1
    for char in code:
        if char == "\n":
            line += 1
        elif char in OPENERS:
            stack.append((char, line))
        elif char in CLOSERS:
            if not stack or stack[-1][0] != CLOSERS[char]:
                problems.append(f"line {line}: {char!r} closes nothing that is open")
                break
            stack.pop()
    else:
        problems += [f"line {opened}: {char!r} is never closed" for char, opened in stack[:3]]
    for number, code_line in enumerate(code.split("\n"), start=1):
        if WEBLOG.search(code_line):
            problems.append(
                f"line {number}: the weblog settings are nfhub's (they carry the run's events); "
                f"remove them"
            )
    return problems
