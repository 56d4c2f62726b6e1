"""A small bundler for the page's own ES modules: one inline script for the exported run (export.py).

Theory of operation
-------------------
The page is a handful of ES modules in ``static/js`` written in one plain style: ``import`` and
``export`` statements start at column 0, specifiers are relative (``"./model.js"``), nothing is
imported dynamically.  A browser cannot load modules from a file it opened from disk (``file://``
has no origin it may fetch from), so the exported file carries them as one script.  No npm on CI:
this module does the little a bundler must do for *our* modules, and refuses loudly what it does
not understand rather than guess.

Each module becomes a factory function in a tiny registry (``__mf``)::

    __mf.define("timeline.js", function (__mf_export, __mf_import) {
    "use strict";
    const {h, clear, clockTime} = __mf_import("dom.js");      // import {h, clear, clockTime} from "./dom.js"
    const api = __mf_import("api.js");                         // import * as api from "./api.js"
    __mf_export({Timeline: () => Timeline});                   // export class Timeline ...
    class Timeline { ... }                                     // the body, "export " removed
    });

Exports are getters on the module's namespace object, defined before the body runs (function
declarations are hoisted; a getter read before its ``const`` or ``class`` has run throws, exactly as
the real module would).  ``__mf_import`` evaluates a module once, on first use, dependencies first,
in the order of the import statements: the order a browser evaluates them in.

Limits (checked; each breach is a :class:`BundleError` naming the file and line):
    - named imports are copied when the importing module starts: an exported ``let`` that is
      assigned again later would not be seen to change, so it is refused (export a function);
    - circular imports are refused (none of ours has one, and copying would break them);
    - ``import()``, ``import.meta``, bare specifiers and files outside the root are refused;
    - a named import the imported module does not export is refused;
    - one name per ``export const/let/var`` statement, no destructuring there.

``substitutes`` swaps modules: ``{"api.js": "offline/api.js"}`` makes every ``import ... from
"./api.js"`` load ``offline/api.js`` instead, except inside the substitute itself (so it may build
on the original).  The result is text for an inline ``<script type="module">``: ``</script`` is
written ``<\\/script`` and ``<!--`` is refused, so nothing in it can close or confuse its element.
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BundleError", "Module", "bundle", "parse_module"]

_IDENT = r"[A-Za-z_$][\w$]*"
_SPEC = r"""(?P<q>["'])(?P<spec>[^"'\n]+)(?P=q)"""
# import <clause> from "x";  (the clause may span lines: import {a,\n b} from "./x.js";)
_IMPORT_FROM = re.compile(rf"^import\s+(?P<clause>[^;\"']*?)\s*\bfrom\s*{_SPEC}[ \t]*;?", re.M)
_IMPORT_BARE = re.compile(rf"^import\s*{_SPEC}[ \t]*;?", re.M)
_EXPORT_FROM = re.compile(rf"^export\s+(?P<clause>\*|\*\s+as\s+{_IDENT}|\{{[^}}]*\}})\s*from\s*{_SPEC}[ \t]*;?", re.M)
_EXPORT_LIST = re.compile(r"^export\s*\{(?P<names>[^}]*)\}[ \t]*;?", re.M)
_EXPORT_DECL = re.compile(
    rf"^export\s+(?P<kw>(?:async\s+)?function\s*\*?|class|const|let|var)\s*(?P<name>{_IDENT})?", re.M)
_EXPORT_DEFAULT = re.compile(
    rf"^export\s+default\s+(?:(?P<kw>(?:async\s+)?function\s*\*?|class)\s*(?P<name>{_IDENT})?)?", re.M)
_LEFTOVER = re.compile(r"^[ \t]*(import|export)\s+[\w${*\"']", re.M)
_DYNAMIC = re.compile(r"(?<![\w$.])import\s*(\(|\.\s*meta\b)")


class BundleError(ValueError):
    """Something in our modules the bundler cannot bundle faithfully (the message names the place)."""


@dataclass(slots=True)
class _Import:
    spec: str
    line: int
    names: list[tuple[str, str]]      # (exported name, local name); ("*", local) for a namespace
    reexport: bool = False            # export ... from: names are (imported, exported)
    at: int = 0                       # where the statement starts: imports run in source order


@dataclass(slots=True)
class Module:
    """One parsed module: its imports, its exports, and its body with both rewritten away."""
    id: str                            # path relative to the root, posix style: "offline/api.js"
    imports: list[_Import] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)   # exported name -> local expression
    stars: list[str] = field(default_factory=list)          # export * from: specifiers
    body: str = ""


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _names(clause: str, where: str) -> list[tuple[str, str]]:
    """``a, b as c`` -> [("a", "a"), ("b", "c")]."""
    out = []
    for part in clause.split(","):
        part = " ".join(part.split())
        if not part:
            continue
        match = re.fullmatch(rf"({_IDENT}|default)(?:\s+as\s+({_IDENT}|default))?", part)
        if not match:
            raise BundleError(f"{where}: cannot read {part!r} in an import or export list")
        out.append((match.group(1), match.group(2) or match.group(1)))
    return out


def _import_names(clause: str, where: str) -> list[tuple[str, str]]:
    clause = " ".join(clause.split())
    names: list[tuple[str, str]] = []
    match = re.fullmatch(rf"(?:({_IDENT})\s*,?\s*)?(?:\*\s*as\s+({_IDENT})|\{{([^}}]*)\}})?", clause)
    if not clause or not match:
        raise BundleError(f"{where}: cannot read the import clause {clause!r}")
    default, namespace, listed = match.groups()
    if default:
        names.append(("default", default))
    if namespace:
        names.append(("*", namespace))
    if listed is not None:
        names.extend(_names(listed, where))
    return names


def parse_module(module_id: str, source: str) -> Module:
    """Read one module's imports and exports and rewrite its body (see the module docstring)."""
    if "\r" in source:
        source = source.replace("\r\n", "\n").replace("\r", "\n")
    module = Module(module_id)
    pieces: list[tuple[int, int, str]] = []          # (start, end, replacement) in the source

    def where(index: int) -> str:
        return f"{module_id}:{_line_of(source, index)}"

    for m in _IMPORT_FROM.finditer(source):
        module.imports.append(_Import(m["spec"], _line_of(source, m.start()), _import_names(m["clause"], where(m.start())),
                                      at=m.start()))
        pieces.append((m.start(), m.end(), ""))
    for m in _IMPORT_BARE.finditer(source):
        module.imports.append(_Import(m["spec"], _line_of(source, m.start()), [], at=m.start()))
        pieces.append((m.start(), m.end(), ""))
    for m in _EXPORT_FROM.finditer(source):
        clause = m["clause"]
        line = _line_of(source, m.start())
        if clause == "*":
            module.stars.append(m["spec"])
            module.imports.append(_Import(m["spec"], line, [], reexport=True, at=m.start()))
        elif clause.startswith("*"):
            name = clause.split()[-1]
            module.imports.append(_Import(m["spec"], line, [("*", name)], reexport=True, at=m.start()))
        else:
            module.imports.append(_Import(m["spec"], line, _names(clause[1:-1], where(m.start())), reexport=True,
                                          at=m.start()))
        pieces.append((m.start(), m.end(), ""))
    module.imports.sort(key=lambda item: item.at)
    taken = [(a, b) for a, b, _ in pieces]

    def free(index: int) -> bool:
        return not any(a <= index < b for a, b in taken)

    for m in _EXPORT_LIST.finditer(source):
        if not free(m.start()):
            continue
        for local, exported in _names(m["names"], where(m.start())):
            module.exports[exported] = local
        pieces.append((m.start(), m.end(), ""))
    for m in _EXPORT_DEFAULT.finditer(source):
        if m["kw"] and m["name"]:              # export default function f() {...}: a declaration
            module.exports["default"] = m["name"]
            pieces.append((m.start(), m.start("kw"), ""))
        else:                                  # export default <expression>
            module.exports["default"] = "__mf_default"
            pieces.append((m.start(), m.start("kw") if m["kw"] else m.end(), "const __mf_default = "))
    for m in _EXPORT_DECL.finditer(source):
        if not free(m.start()) or source.startswith("default", m.start("kw")):
            continue
        if not m["name"]:
            raise BundleError(f"{where(m.start())}: an exported {m['kw']} needs a plain name "
                              "(no destructuring, one name per statement)")
        kw, name = " ".join(m["kw"].split()), m["name"]
        if kw in ("let", "var") and _reassigned(source, name, m.end()):
            raise BundleError(f"{where(m.start())}: the exported {kw} {name!r} is assigned again later; an "
                              "importer would not see the change: export a function that returns it")
        module.exports[name] = name
        pieces.append((m.start(), m.start("kw"), ""))

    pieces.sort()
    out, last = [], 0
    for start, end, replacement in pieces:
        out.append(source[last:start])
        # keep the line count: errors in the browser's console still point near the right line
        out.append(replacement + "\n" * source.count("\n", start, end))
        last = end
    out.append(source[last:])
    body = "".join(out)
    for m in _LEFTOVER.finditer(body):
        raise BundleError(f"{module_id}:{_line_of(body, m.start())}: an {m.group(1)} statement the bundler "
                          f"cannot read: {body[m.start():body.find(chr(10), m.start())].strip()[:120]!r}")
    m = _DYNAMIC.search(_strip_comments(body))
    if m:
        raise BundleError(f"{module_id}: import() and import.meta are not supported in the exported page")
    module.body = body
    return module


def _strip_comments(text: str) -> str:
    """Line comments out (enough for the dynamic-import check: our comments mention ``import``)."""
    return re.sub(r"(?m)(^|[^:\"'`\\])//.*$", r"\1", text)


def _reassigned(source: str, name: str, after: int) -> bool:
    pattern = re.compile(rf"(?<![\w$.]){re.escape(name)}\s*(?:=(?!=)|\+\+|--|[-+*/%&|^]=|\*\*=|<<=|>>>?=)")
    return bool(pattern.search(_strip_comments(source[after:])))


# -- the whole bundle --------------------------------------------------------------------------------
_RUNTIME = """\
const __mf = (() => {
  const factories = new Map(), done = new Map();
  function define(id, factory) { factories.set(id, factory); }
  function load(id) {
    if (done.has(id)) return done.get(id);
    const factory = factories.get(id);
    if (!factory) throw new Error(`bundle: no module ${id}`);
    const exports = Object.create(null);
    done.set(id, exports);
    const define = (getters, star) => {
      for (const [name, get] of Object.entries(getters)) {
        Object.defineProperty(exports, name, {get, enumerable: true});
      }
      for (const other of star || []) {
        for (const name of Object.keys(other)) {
          if (name !== "default" && !(name in exports)) {
            Object.defineProperty(exports, name, {get: () => other[name], enumerable: true});
          }
        }
      }
    };
    factory(define, load);
    return exports;
  }
  return {define, load};
})();
"""


def _resolve(importer: str, spec: str, root: Path, where: str) -> str:
    if not spec.startswith(("./", "../")):
        raise BundleError(f"{where}: imports {spec!r}: only our own modules (\"./name.js\") can be bundled")
    target = posixpath.normpath(posixpath.join(posixpath.dirname(importer), spec))
    if target.startswith("../") or target == ".." or posixpath.isabs(target):
        raise BundleError(f"{where}: imports {spec!r}, which lies outside {root}")
    if not (root / target).is_file():
        raise BundleError(f"{where}: imports {spec!r}, but there is no such module ({root / target})")
    return target


def bundle(root: str | Path, entries: list[str], substitutes: dict[str, str] | None = None) -> str:
    """The modules reachable from ``entries`` (ids relative to ``root``) as one script that runs the
    entries in order.  Raises :class:`BundleError` for anything it cannot bundle faithfully."""
    root = Path(root)
    substitutes = dict(substitutes or {})
    modules: dict[str, Module] = {}
    resolved: dict[str, list[str]] = {}               # module id -> the ids its imports load
    order: list[str] = []                            # dependencies first
    state: dict[str, str] = {}                       # "visiting" | "done"

    def load(module_id: str, chain: list[str]) -> None:
        if state.get(module_id) == "done":
            return
        if state.get(module_id) == "visiting":
            cycle = chain[chain.index(module_id):] + [module_id]
            raise BundleError("circular import: " + " -> ".join(cycle) + " (not supported in the exported page)")
        state[module_id] = "visiting"
        path = root / module_id
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as err:
            raise BundleError(f"cannot read {path}: {err}") from None
        module = parse_module(module_id, source)
        modules[module_id] = module
        targets = []
        for item in module.imports:
            target = _resolve(module_id, item.spec, root, f"{module_id}:{item.line}")
            if target in substitutes and module_id != substitutes[target]:
                target = substitutes[target]
                if not (root / target).is_file():
                    raise BundleError(f"the substitute {target} for {item.spec} is missing")
            targets.append(target)
            load(target, chain + [module_id])
        resolved[module_id] = targets
        state[module_id] = "done"
        order.append(module_id)

    for entry in entries:
        if not (root / entry).is_file():
            raise BundleError(f"no entry module {root / entry}")
        load(entry, [])

    exported = {}

    def names_of(module_id: str) -> set[str]:
        if module_id not in exported:
            module = modules[module_id]
            names = set(module.exports)
            for item, target in zip(module.imports, resolved[module_id]):
                if item.reexport:
                    names |= {exported_name for _, exported_name in item.names}
                    if not item.names:
                        names |= names_of(target) - {"default"}
            exported[module_id] = names
        return exported[module_id]

    for module_id in order:
        module = modules[module_id]
        for item, target in zip(module.imports, resolved[module_id]):
            missing = [name for name, _ in item.names if name != "*" and name not in names_of(target)]
            if missing:
                raise BundleError(f"{module_id}:{item.line}: imports {', '.join(map(repr, missing))} from "
                                  f"{item.spec} ({target}), which does not export {'it' if len(missing) == 1 else 'them'}")

    parts = [_RUNTIME]
    for module_id in order:
        parts.append(_factory(modules[module_id], resolved[module_id]))
    parts.extend(f"__mf.load({json.dumps(entry)});\n" for entry in entries)
    script = "".join(parts)
    if "<!--" in script:
        raise BundleError("a module contains '<!--', which an inline script may not hold")
    return re.sub(r"(?i)</(script)", r"<\\/\1", script)


def _factory(module: Module, targets: list[str]) -> str:
    lines = [f"__mf.define({json.dumps(module.id)}, function (__mf_export, __mf_import) {{", '"use strict";']
    getters = [f"{json.dumps(name)}: () => {local}" for name, local in module.exports.items()]
    stars = []
    for item, target in zip(module.imports, targets):
        source = f"__mf_import({json.dumps(target)})"
        if item.reexport:
            if not item.names:
                stars.append(source)
            for name, alias in item.names:
                getters.append(f"{json.dumps(alias)}: () => {source}" + ("" if name == "*" else f"[{json.dumps(name)}]"))
            continue
        namespace = [local for name, local in item.names if name == "*"]
        named = [(name, local) for name, local in item.names if name != "*"]
        if not item.names:
            lines.append(f"{source};")
        for local in namespace:
            lines.append(f"const {local} = {source};")
        if named:
            fields = ", ".join(local if name == local else f"{json.dumps(name) if name == 'default' else name}: {local}"
                               for name, local in named)
            lines.append(f"const {{{fields}}} = {source};")
    lines.append(f"__mf_export({{{', '.join(getters)}}}, [{', '.join(stars)}]);")
    return "\n".join(lines) + "\n" + module.body.rstrip("\n") + "\n});\n"
