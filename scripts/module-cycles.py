#!/usr/bin/env python3
"""Lists the sibling modules that import each other, in every crate of the workspace.

Two modules are siblings when they have the same parent (`plots` and `report` under the bench's
`main.rs`; `aws::failures` and `aws::signer` under `aws`). A imports B when any code in A or
below it names B or anything below it: a `use` (grouped ones included), an inline path
(`crate::plots::BUCKETS_FILE`), through `crate::`, `super::` or `self::`, or through a parent's
`pub use` re-export of an item of B. Every crate root is read: each member's src/lib.rs,
src/main.rs, src/bin/*.rs and its integration tests (tests/*.rs, tests/*/main.rs).

A pair is printed with one example of each direction (file:line). Code under `#[cfg(test)]`
counts too; a pair only test code makes is marked `(test code only)`.

Usage: scripts/module-cycles.py [--root DIR] [--no-tests]
Exit status: 1 when a pair is found (0 with `--no-tests` if only test code makes pairs).
"""

import argparse
import pathlib
import re
import sys
import tomllib

# ---------------------------------------------------------------------------------------------
# Tokens: identifiers, `::`, punctuation, string literals (kept as one token); comments dropped.

TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*)
  | (?P<raw_string>b?r(?P<hashes>\#*)")
  | (?P<string>b?"(?:[^"\\]|\\.)*")
  | (?P<char>b?'(?:[^'\\\n]|\\[^\n]+?)')
  | (?P<lifetime>'[A-Za-z_][A-Za-z0-9_]*)
  | (?P<ident>r\#[A-Za-z_][A-Za-z0-9_]*|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<path_sep>::)
  | (?P<number>[0-9][0-9A-Za-z_.]*)
  | (?P<punct>.)
    """,
    re.VERBOSE | re.DOTALL,
)


def tokens(text):
    """(kind, value, line) for every token of `text`."""
    out, i, line = [], 0, 1
    while i < len(text):
        m = TOKEN.match(text, i)
        kind = "raw_string" if m.group("raw_string") is not None else m.lastgroup
        if kind == "block_comment":
            depth, j = 1, i + 2
            while j < len(text) and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            line += text.count("\n", i, j)
            i = j
            continue
        if kind == "raw_string":
            end = '"' + m.group("hashes")
            j = text.find(end, m.end())
            j = len(text) if j < 0 else j + len(end)
            out.append(("string", text[i:j], line))
            line += text.count("\n", i, j)
            i = j
            continue
        value = m.group(0)
        if kind not in ("ws", "line_comment"):
            out.append((kind, value, line))
        line += value.count("\n")
        i = m.end()
    return out


# ---------------------------------------------------------------------------------------------
# Modules of one crate.


class Module:
    def __init__(self, path, file, parent, is_test):
        self.path = path  # tuple of names; () is the crate root
        self.file = file
        self.parent = parent
        self.children = {}
        self.is_test = is_test
        self.reexports = {}  # name -> (path segments, line)
        self.refs = []  # (segments, line, is_test)


def child_file(dir_of_children, name):
    for candidate in (dir_of_children / f"{name}.rs", dir_of_children / name / "mod.rs"):
        if candidate.is_file():
            return candidate
    return None


def children_dir(file, is_root):
    """Where `mod x;` in `file` looks for x.rs (a crate root and a mod.rs: beside it)."""
    if is_root or file.name == "mod.rs":
        return file.parent
    return file.parent / file.stem


def attributes_before(toks, i):
    """The attributes right before token i (skipping `pub`, `pub(...)`)."""
    j = i - 1
    if j >= 0 and toks[j][1] == ")":
        depth = 0
        while j >= 0:
            if toks[j][1] == ")":
                depth += 1
            elif toks[j][1] == "(":
                depth -= 1
                if depth == 0:
                    break
            j -= 1
        j -= 1
    if j >= 0 and toks[j][1] == "pub":
        j -= 1
    attrs = []
    while j >= 0 and toks[j][1] == "]":
        depth, k = 0, j
        while k >= 0:
            if toks[k][1] == "]":
                depth += 1
            elif toks[k][1] == "[":
                depth -= 1
                if depth == 0:
                    break
            k -= 1
        if k >= 1 and toks[k - 1][1] == "#":
            attrs.append(" ".join(t[1] for t in toks[k + 1 : j]))
            j = k - 2
        else:
            break
    return attrs


def is_test_attr(attrs):
    return any(re.fullmatch(r"cfg \( test \)", a) for a in attrs)


def path_attr(attrs):
    for a in attrs:
        m = re.fullmatch(r'path = "(.*)"', a)
        if m:
            return m.group(1)
    return None


def parse_use_tree(toks, i, prefix, out, line):
    """Parses a use tree from token i; appends (segments, alias, line) to out; returns the index
    after the tree."""
    segs = list(prefix)
    while i < len(toks):
        kind, value, ln = toks[i]
        if value == "{":
            i += 1
            while i < len(toks) and toks[i][1] != "}":
                i = parse_use_tree(toks, i, segs, out, ln)
                if i < len(toks) and toks[i][1] == ",":
                    i += 1
            return i + 1
        if value == "*":
            out.append((segs, "*", ln))
            return i + 1
        if kind == "ident":
            segs.append(value)
            i += 1
            if i < len(toks) and toks[i][0] == "path_sep":
                i += 1
                continue
            alias = segs[-1]
            if i + 1 < len(toks) and toks[i][1] == "as":
                alias = toks[i + 1][1]
                i += 2
            if alias == "self" and len(segs) > 1:
                segs, alias = segs[:-1], segs[-2]
            out.append((segs, alias, ln))
            return i
        return i + 1
    return i


class Crate:
    def __init__(self, name, root_file):
        self.name = name
        self.modules = {}
        self.root = self.load(root_file, (), None, False)

    def load(self, file, path, parent, is_test):
        module = Module(path, file, parent, is_test)
        self.modules[path] = module
        text = file.read_text(encoding="utf-8", errors="replace")
        self.scan(tokens(text), module, file, children_dir(file, parent is None))
        return module

    def scan(self, toks, module, file, kids_dir):
        """Reads one file's tokens into `module`, opening inline `mod x { … }` blocks."""
        stack = [(module, kids_dir, 0)]  # (module, children dir, brace depth at open)
        depth, i = 0, 0
        while i < len(toks):
            kind, value, line = toks[i]
            current, cur_dir, _ = stack[-1]
            if value == "{":
                depth += 1
            elif value == "}":
                depth -= 1
                if len(stack) > 1 and depth == stack[-1][2]:
                    stack.pop()
            elif value == "mod" and kind == "ident" and i + 2 < len(toks) and toks[i + 1][0] == "ident":
                name, after = toks[i + 1][1], toks[i + 2][1]
                attrs = attributes_before(toks, i)
                test = current.is_test or is_test_attr(attrs)
                sub_path = current.path + (name,)
                if after == ";":
                    explicit = path_attr(attrs)
                    if explicit is not None:
                        target = (file.parent / explicit).resolve()
                        target = target if target.is_file() else None
                    else:
                        target = child_file(cur_dir, name)
                    if target is not None and sub_path not in self.modules:
                        current.children[name] = self.load(target, sub_path, current, test)
                    i += 3
                    continue
                if after == "{":
                    sub = Module(sub_path, file, current, test)
                    self.modules[sub_path] = sub
                    current.children[name] = sub
                    stack.append((sub, cur_dir / name, depth))
                    depth += 1
                    i += 3
                    continue
            elif value == "use" and kind == "ident":
                attrs = attributes_before(toks, i)
                public = i > 0 and (toks[i - 1][1] == "pub" or toks[i - 1][1] == ")")
                trees = []
                j = parse_use_tree(toks, i + 1, [], trees, line)
                for segs, alias, ln in trees:
                    test = current.is_test or is_test_attr(attrs)
                    current.refs.append((segs, ln, test))
                    if public and alias != "*":
                        current.reexports[alias] = (segs, ln)
                i = j
                continue
            elif kind == "ident" and value in ("crate", "super", "self") and i + 1 < len(toks) and toks[i + 1][0] == "path_sep":
                if i > 0 and toks[i - 1][0] == "path_sep":
                    i += 1
                    continue
                segs, j = [value], i + 1
                while j + 1 < len(toks) and toks[j][0] == "path_sep" and toks[j + 1][0] == "ident":
                    segs.append(toks[j + 1][1])
                    j += 2
                current.refs.append((segs, line, current.is_test))
                i = j
                continue
            i += 1

    def resolve(self, module, segs, seen=None):
        """The module a path from `module` lands in (None if it leaves the crate)."""
        seen = seen or set()
        if not segs:
            return None
        head, rest = segs[0], segs[1:]
        if head == "crate":
            at = self.root
        elif head == "super":
            at = module.parent
            while rest and rest[0] == "super" and at is not None:
                at, rest = at.parent, rest[1:]
        elif head == "self":
            at = module
        else:
            # A bare path: a child of this module (2018 paths), else outside the crate.
            if head in module.children:
                at, rest = module.children[head], rest
            else:
                return None
        if at is None:
            return None
        for name in rest:
            if name in at.children:
                at = at.children[name]
                continue
            if name in at.reexports and (at.path, name) not in seen:
                seen.add((at.path, name))
                target_segs, _ = at.reexports[name]
                target = self.resolve(at, target_segs, seen)
                if target is not None:
                    return target
            break
        return at


def crate_roots(root):
    manifest = tomllib.loads((root / "Cargo.toml").read_text())
    for member in manifest["workspace"]["members"]:
        base = root / member
        name = tomllib.loads((base / "Cargo.toml").read_text())["package"]["name"]
        for rel in ("src/lib.rs", "src/main.rs"):
            if (base / rel).is_file():
                yield f"{name} ({rel})", base / rel
        for sub in ("src/bin", "tests"):
            d = base / sub
            if d.is_dir():
                for f in sorted(d.glob("*.rs")):
                    yield f"{name} ({sub}/{f.name})", f
                for f in sorted(d.glob("*/main.rs")):
                    yield f"{name} ({sub}/{f.parent.name})", f


def sibling_pairs(crate, root):
    """{(a, b): {direction: [(file:line, is_test)]}} for sibling modules importing each other."""
    edges = {}
    for module in crate.modules.values():
        for segs, line, test in module.refs:
            target = crate.resolve(module, segs)
            if target is None:
                continue
            src, dst = module.path, target.path
            k = 0
            while k < min(len(src), len(dst)) and src[k] == dst[k]:
                k += 1
            if k == len(src) or k == len(dst):
                continue  # ancestor or descendant: not between siblings
            a, b = src[: k + 1], dst[: k + 1]
            rel = module.file.relative_to(root)
            edges.setdefault((a, b), []).append((f"{rel}:{line}", test))
    pairs = {}
    for (a, b), where in edges.items():
        if a < b and (b, a) in edges:
            pairs[(a, b)] = {(a, b): where, (b, a): edges[(b, a)]}
    return pairs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=pathlib.Path(__file__).resolve().parent.parent, type=pathlib.Path)
    ap.add_argument("--no-tests", action="store_true", help="leave code under #[cfg(test)] out")
    args = ap.parse_args()
    root = args.root.resolve()
    found = 0
    for label, file in crate_roots(root):
        crate = Crate(label, file)
        for (a, b), directions in sorted(sibling_pairs(crate, root).items()):
            def show(p):
                return "::".join(p) or "crate"
            # Without test code one direction is gone: no circle in what ships.
            test_only = any(all(t for _, t in where) for where in directions.values())
            if args.no_tests and test_only:
                continue
            found += 1
            mark = "  (test code only)" if test_only else ""
            print(f"{label}: {show(a)} <-> {show(b)}{mark}")
            for (x, y), where in directions.items():
                first = next((w for w, t in where if not t), where[0][0])
                print(f"    {show(x)} -> {show(y)}: {first} ({len(where)} reference(s))")
    if found == 0:
        print("no sibling modules import each other")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
