#!/usr/bin/env python3
"""Fails when a function in the given C++ files is longer than --max lines.

A heuristic without a compiler, correct for code formatted by the repository's
.clang-format: braces are counted outside comments, string and character literals (raw
strings too); a brace opens a function body when the text before it (back to the last
';', '{' or '}') holds a parameter list and is not a control statement, a lambda or an
initializer, and no enclosing brace is a function body (a lambda or a local class is
part of its function). Bodies of classes and namespaces are walked into, so member
functions defined in a class count. A function's length runs from the first line of
its signature to its closing brace.

    scripts/function-lengths.py [--max 80] FILE...
"""
import re
import sys

CONTROL = re.compile(r"^(if|for|while|switch|catch|else|do|try|return)\b")
SCOPE = re.compile(r"^(template\s*<.*>\s*)?(namespace|class|struct|union|enum|extern)\b", re.S)


def strip(text):
    """The text with comments and literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'R"([^()\\ ]{0,16})\(', text[i:])
            end = text.find(")" + m.group(1) + '"', i) if m else -1
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2 : j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (j - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def is_function(head):
    head = " ".join(head.split())
    if not head or "(" not in head or CONTROL.match(head) or SCOPE.match(head):
        return False
    if head.endswith("=") or re.search(r"=\s*$", head) or head.endswith(","):
        return False
    if re.search(r"\]\s*(\([^)]*\))?\s*(mutable\s*)?(->[^{]*)?$", head):
        return False  # a lambda
    return head.rstrip().endswith(")") or re.search(
        r"\)\s*(const|noexcept|override|final|->.*|:.*)(\s|$)", head) is not None


def check(path, limit):
    text = strip(open(path, encoding="utf-8").read())
    stack = []  # (kind, first line)
    head_start, head = 0, []
    bad = []
    line = 1
    for c in text:
        if c == "{":
            inside = any(kind == "function" for kind, _ in stack)
            h = "".join(head).strip()
            kind = "function" if not inside and is_function(h) else "block"
            if not inside and SCOPE.match(" ".join(h.split())):
                kind = "scope"
            stack.append((kind, head_start if h else line))
            head, head_start = [], line
        elif c == "}":
            if stack:
                kind, start = stack.pop()
                if kind == "function" and line - start + 1 > limit:
                    bad.append((start, line - start + 1))
            head, head_start = [], line
        elif c == ";":
            head, head_start = [], line
        else:
            if not head and not c.isspace():
                head_start = line
            if head or not c.isspace():
                head.append(c)
        if c == "\n":
            line += 1
    return bad


def main(argv):
    limit = 80
    if len(argv) > 1 and argv[0] == "--max":
        limit, argv = int(argv[1]), argv[2:]
    status = 0
    for path in argv:
        for start, length in check(path, limit):
            print(f"{path}:{start}: a function of {length} lines (at most {limit})")
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
