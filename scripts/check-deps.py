#!/usr/bin/env python3
"""Fails when a source file includes a module its module may not use.

Reads the allowed edges from docs/design/dependencies.md (the `| module | may use |` table) and
checks every `#include "module/..."` under src/. `--self-test` proves the check can fail.
"""
import os
import re
import sys
import tempfile

# consensus is pure: none of these may appear in it (docs/design/dependencies.md, Notes).
PURE_MODULES = {"consensus"}
IMPURE = re.compile(r'^\s*#\s*include\s+[<"](thread|mutex|shared_mutex|chrono|fstream|filesystem|random|'
                    r'iostream|atomic|condition_variable|future|util/clock\.h|util/log\.h|rocksdb/[^>"]+)[>"]',
                    re.M)
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)
ROW = re.compile(r'^\|\s*([a-z_]+)\s*\|([^|]*)\|\s*$')


def read_rules(doc_path):
    rules = {}
    with open(doc_path, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line.strip())
            if not m or m.group(1) == "module":
                continue
            uses = [u.strip() for u in m.group(2).split(",") if u.strip()]
            rules[m.group(1)] = set(uses)
    return rules


def check(src_root, rules):
    errors = []
    for module in sorted(os.listdir(src_root)):
        mdir = os.path.join(src_root, module)
        if not os.path.isdir(mdir):
            continue
        if module not in rules:
            errors.append(f"{module}/: module not listed in docs/design/dependencies.md")
            continue
        for dirpath, _, files in os.walk(mdir):
            for name in files:
                if not name.endswith((".h", ".hpp", ".cpp", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                if module in PURE_MODULES:
                    for m in IMPURE.finditer(text):
                        line = text[: m.start()].count("\n") + 1
                        rel = os.path.relpath(path, src_root)
                        errors.append(f"src/{rel}:{line}: {module} must stay pure (no I/O, clock, threads): "
                                      f"includes {m.group(1)}")
                for m in INCLUDE.finditer(text):
                    target = m.group(1)
                    if target == module or target not in rules:
                        continue  # own module, or not a module (e.g. a library's own folder)
                    if target not in rules[module]:
                        line = text[: m.start()].count("\n") + 1
                        rel = os.path.relpath(path, src_root)
                        errors.append(f"src/{rel}:{line}: {module} may not include {target}/ "
                                      f"(allowed: {', '.join(sorted(rules[module])) or 'nothing'})")
    return errors


def self_test(rules):
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "crypto"))
        os.makedirs(os.path.join(root, "chain"))
        with open(os.path.join(root, "crypto", "bad.cpp"), "w") as f:
            f.write('#include "chain/chainstate.h"\n')
        with open(os.path.join(root, "chain", "ok.cpp"), "w") as f:
            f.write('#include "crypto/sha256.h"\n#include <thread>\n')
        os.makedirs(os.path.join(root, "consensus"))
        with open(os.path.join(root, "consensus", "impure.cpp"), "w") as f:
            f.write('#include <thread>\n#include "util/bytes.h"\n')
        errors = check(root, rules)
        joined = "\n".join(errors)
        if len(errors) != 2 or "crypto may not include chain/" not in joined or "must stay pure" not in joined:
            print("self-test FAILED: expected the crypto -> chain and impure-consensus violations, got:", errors)
            return 1
    print("self-test ok: a wrong-way include is caught")
    return 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    rules = read_rules(os.path.join(repo, "docs", "design", "dependencies.md"))
    if not rules:
        print("no rules found in docs/design/dependencies.md")
        return 1
    if "--self-test" in sys.argv:
        return self_test(rules)
    errors = check(os.path.join(repo, "src"), rules)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} dependency violation(s)")
        return 1
    print(f"dependencies ok ({len(rules)} modules)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
