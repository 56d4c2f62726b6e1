"""THREAD (RFC 5256 §3 BASE.6.4.THREAD): ORDEREDSUBJECT and REFERENCES on plain records, and the answer.

Theory of operation
  ``thread(msgs, algorithm, key)`` takes the messages a search matched (``sorting.Msg`` records) and
  returns the text after "* THREAD " (RFC 5256 §4 BASE.7.2.THREAD, §5 ``thread-list``): each thread in
  parentheses, a message followed by its only child as "1 2", several children each in their own parentheses
  "1 (2)(3)", a thread whose root is missing (a dummy) as "((1)(2))".  ``key`` picks the number shown
  (the sequence number, or the UID for UID THREAD).  Only the messages passed in are threaded.

  Dates are sent dates (RFC 5256 §2.2, ``sorting.sent_date``); every "sort by sent date" breaks ties by
  sequence number.  The subject is the base subject (§2.1, ``sorting.base_subject_info``).

ORDEREDSUBJECT ("poor man's threading", §3): the messages sorted by base subject, then sent date;
  each run of one base subject is a thread whose first message is the root and all the others are its
  children, in date order; the threads in the order of their roots' dates.  Messages without a
  subject all share the empty base subject and make one thread.

REFERENCES (§3, after JWZ's algorithm), every step:
  (1) for each message, in mailbox order:
      (A) its Message-ID names its container (a missing or invalid one, or a second message with an
          ID already taken, gets a container of its own); its references are the valid msg-ids of
          References, or, if there are none, the first valid msg-id of In-Reply-To;
      (B) each pair of successive references is linked parent -> child, unless the child already
          has a parent (an existing link is never changed) or the link would make a loop;
      (C) the message's parent becomes its last reference: an existing parent that differs is
          dropped first (the message's own References are authoritative), then the link is made
          unless it would make a loop (then the message stays a root, as in Dovecot: imaptest's
          "thread" script checks exactly that case);
  (2) the root set: every container without a parent;
  (3) (the ID table is dropped: it is local to the call);
  (4) dummies are pruned: a message's parent becomes its nearest ancestor that is a message, or, if
      none is, the topmost (root) dummy; a root dummy with no message below it goes; one with a
      single child is replaced by that child (promotion to the root set is allowed for one child only);
  (5) threads with the same base subject are gathered, roots taken in date order (a dummy by its
      oldest child): (A)-(C) a subject table keeps per base subject the first root, replaced by a
      dummy root or by a root that is not a reply/forward when the kept one is; roots without a
      Subject field or with an empty base subject are skipped; (D) then each other root of that
      subject is merged into it: two dummies pool their children; into a dummy, or as a reply
      under a non-reply, a root becomes a child; otherwise both go under a new dummy;
  (6) siblings are sorted by sent date (a dummy by its first child), and so are the roots.

  Dovecot's implementation (index-thread-links.c, index-thread-finish.c) was read to settle what
  the RFC leaves open; imaptest's thread scripts pass (tests/test_imap_sorting.py).

Bounds: nothing recurses (trees are walked with explicit stacks; a 10,000-deep reply chain is fine).
A loop check walks up from the new parent, and only when the child already has children, so the
usual link costs O(1); but crafted References can ask for a long walk again and again (a 5,000-deep
chain, then messages whose References name its bottom and its top, over and over).  So the walks of
one THREAD share ``LOOP_CHECK_BUDGET`` steps; once they are spent, a link that would need a check is
treated as a loop and not made: the tree stays loop-free, the hostile messages just thread less
(bench/bench_sorting.py: 20,000 ordinary messages take about 2,000 steps; a 5,000-deep chain attacked
by 200 crafted messages stops at the budget in 0.15 s, where it would have walked 500 million steps).
References, In-Reply-To and Message-ID are read up to ``REFERENCES_LIMIT`` characters, and only the
last ``REFERENCES_MAX`` msg-ids of References are used (Dovecot has no such limits).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from .sorting import Msg, base_subject, base_subject_info, sent_date

__all__ = ["ALGORITHMS", "LOOP_CHECK_BUDGET", "REFERENCES_LIMIT", "REFERENCES_MAX", "Node", "format_threads",
           "message_ids", "ordered_subject", "references", "thread"]

ALGORITHMS = ("ORDEREDSUBJECT", "REFERENCES")
REFERENCES_LIMIT = 64 * 1024     # characters of References / In-Reply-To / Message-ID looked at
REFERENCES_MAX = 1000            # msg-ids of one References used (the last ones: the nearest ancestors)
LOOP_CHECK_BUDGET = 2_000_000    # ancestor steps all loop checks of one THREAD may take together


class Node:
    """A container (RFC 5256 §3 REFERENCES step 1): a message or a dummy (``msg is None``); its children."""

    __slots__ = ("msg", "parent", "kids", "children", "date", "seq", "reply", "merge_into", "gone")

    def __init__(self, msg: Msg | None = None) -> None:
        self.msg = msg
        self.parent: Node | None = None
        self.kids = 0                           # children linked in step (1)
        self.children: list[Node] = []          # the final tree (steps 4-6)
        self.date, self.seq = 0, 0              # sort key: sent date, then sequence number
        self.reply = False                      # step (5): the subject had a Re:/Fwd: marker
        self.merge_into: Node | None = None     # step (5): the subject table's choice for this root
        self.gone = False                       # step (5): merged into another root

    def set_msg(self, msg: Msg) -> None:
        self.msg, self.date, self.seq = msg, sent_date(msg), msg.seq

    def __repr__(self) -> str:                  # for test failures
        return f"Node({self.msg.seq if self.msg else 'dummy'}, {len(self.children)} children)"


def _order(node: Node) -> tuple[int, int]:
    return node.date, node.seq


# --------------------------------------------------------------------------- message ids

_MSG_ID = re.compile(r"<([^<>]*)>")
_COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")


def message_ids(value: str | None) -> list[str]:
    """The valid msg-ids of a field (RFC 5322 §3.6.4), without angle brackets, CFWS removed.

    A msg-id needs "@" with something on each side; quoted local parts lose their quotes.
    Anything else between "<" and ">" is skipped, as Dovecot does.
    """
    if not value:
        return []
    ids = []
    for match in _MSG_ID.finditer(value[:REFERENCES_LIMIT]):
        inner = match.group(1)
        if "(" in inner:
            inner = _COMMENT.sub("", inner)
        if '"' in inner:
            inner = re.sub(r'"((?:[^"\\]|\\.)*)"', lambda m: re.sub(r"\\(.)", r"\1", m.group(1)), inner)
        ident = "".join(inner.split())
        left, at, right = ident.rpartition("@")
        if at and left and right:
            ids.append(ident)
    return ids


# --------------------------------------------------------------------------- output (RFC 5256 §4, §5)


def format_threads(roots: Sequence[Node], key: Callable[[Msg], int]) -> str:
    """The thread-list text for the roots, children in the order given; no recursion."""
    out: list[str] = []
    stack: list[str | tuple[Sequence[Node], bool]] = [(roots, True)]
    while stack:
        task = stack.pop()
        if isinstance(task, str):
            out.append(task)
            continue
        nodes, top = task
        parts: list[str | tuple[Sequence[Node], bool]] = []
        if len(nodes) == 1 and not top:          # an only child follows its parent: "1 2"
            node = nodes[0]
            assert node.msg is not None          # dummies exist only at the root
            parts.append(str(key(node.msg)))
            if node.children:
                parts += [" ", (node.children, False)]
        else:
            for node in nodes:
                if not node.children:
                    assert node.msg is not None
                    parts.append(f"({key(node.msg)})")
                else:
                    parts.append("(" if node.msg is None else f"({key(node.msg)} ")
                    parts += [(node.children, False), ")"]
        stack.extend(reversed(parts))
    return "".join(out)


def _sort_tree(roots: list[Node]) -> None:
    """Step (6): every list of siblings in (sent date, sequence) order; then the roots."""
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node.children:
            node.children.sort(key=_order)
            stack.extend(node.children)
    for root in roots:
        if root.msg is None:                     # a dummy sorts as its first child
            root.date, root.seq = _order(root.children[0])
    roots.sort(key=_order)


# --------------------------------------------------------------------------- ORDEREDSUBJECT


def ordered_subject(msgs: Iterable[Msg]) -> list[Node]:
    """RFC 5256 §3 ORDEREDSUBJECT: one flat thread per base subject, in date order."""
    groups: dict[str, list[Node]] = {}
    for msg in msgs:
        node = Node()
        node.set_msg(msg)
        subject = msg.headers.get("subject")
        groups.setdefault(base_subject(subject) if subject is not None else "", []).append(node)
    roots = []
    for members in groups.values():
        members.sort(key=_order)
        root = members[0]
        root.children = members[1:]
        roots.append(root)
    roots.sort(key=_order)
    return roots


# --------------------------------------------------------------------------- REFERENCES


class _Budget:
    """Ancestor steps the loop checks of one THREAD may still take (hostile References, see above)."""

    __slots__ = ("left",)

    def __init__(self, steps: int) -> None:
        self.left = steps


def _has_ancestor(node: Node | None, ancestor: Node, budget: _Budget) -> bool:
    """Whether ``ancestor`` is ``node`` or above it; True (refuse the link) once the budget is spent."""
    while node is not None:
        if node is ancestor:
            return True
        if budget.left <= 0:
            return True
        budget.left -= 1
        node = node.parent
    return False


def _link(parent: Node, child: Node, budget: _Budget) -> None:
    """Make ``parent`` the parent of ``child`` unless it has one already or a loop would result."""
    if parent is child or child.parent is not None:
        return
    if child.kids and _has_ancestor(parent, child, budget):
        return                                   # child is an ancestor of parent: a loop
    child.parent = parent
    parent.kids += 1


def _unlink(child: Node) -> None:
    assert child.parent is not None
    child.parent.kids -= 1
    child.parent = None


def _build_links(msgs: Iterable[Msg]) -> list[Node]:
    """Step (1): containers linked by Message-ID, References and In-Reply-To; all containers."""
    table: dict[str, Node] = {}
    nodes: list[Node] = []
    budget = _Budget(LOOP_CHECK_BUDGET)

    def container(ident: str) -> Node:
        node = table.get(ident)
        if node is None:
            node = table[ident] = Node()
            nodes.append(node)
        return node

    for msg in sorted(msgs, key=lambda m: m.seq):
        ids = message_ids(msg.headers.get("message-id"))
        node = table.get(ids[0]) if ids else None
        if node is None or node.msg is not None:             # (A) new, unique, or a duplicate ID
            node = Node()
            nodes.append(node)
            if ids and ids[0] not in table:
                table[ids[0]] = node
        node.set_msg(msg)
        refs = message_ids(msg.headers.get("references"))[-REFERENCES_MAX:]
        if not refs:
            refs = message_ids(msg.headers.get("in-reply-to"))[:1]
        last: Node | None = None
        for ident in refs:                                   # (B)
            ref = container(ident)
            if last is not None:
                _link(last, ref, budget)
            last = ref
        if node.parent is not None and node.parent is not last:   # (C)
            _unlink(node)
        if last is not None:
            _link(last, node, budget)
    return nodes


def _prune(nodes: list[Node]) -> list[Node]:
    """Steps (2) and (4): the root set with dummies pruned; each node's ``children`` filled."""
    resolved: dict[int, Node] = {}               # id(dummy) -> where its message children go

    def target(dummy: Node) -> Node:
        """The nearest message above a dummy, or the topmost dummy."""
        path = []
        node = dummy
        while True:
            hit = resolved.get(id(node))
            if hit is not None:
                break
            if node.parent is None:
                hit = node
                break
            path.append(node)
            if node.parent.msg is not None:
                hit = node.parent
                break
            node = node.parent
        for walked in path:
            resolved[id(walked)] = hit
        resolved[id(dummy)] = hit
        return hit

    for node in nodes:
        if node.msg is None or node.parent is None:
            continue
        parent = node.parent if node.parent.msg is not None else target(node.parent)
        parent.children.append(node)
    roots = []
    for node in nodes:
        if node.parent is not None:
            continue
        if node.msg is not None:
            roots.append(node)
        elif len(node.children) == 1:
            roots.append(node.children[0])       # a lone child is promoted to the root set
        elif node.children:
            roots.append(node)
    return roots


def _subject_of(root: Node) -> tuple[str, bool] | None:
    """Step (5)(B): the thread's subject (a dummy's is its oldest child's); None if it has none."""
    msg = root.msg if root.msg is not None else min(root.children, key=_order).msg
    assert msg is not None
    value = msg.headers.get("subject")
    return None if value is None else base_subject_info(value)


def _gather_subjects(roots: list[Node]) -> list[Node]:
    """Step (5): roots with one base subject merged; returns the new root set."""
    for root in roots:
        if root.msg is None:
            root.date, root.seq = min(_order(c) for c in root.children)
    roots.sort(key=_order)
    table: dict[str, Node] = {}
    for root in roots:                                       # (A)-(C): the subject table
        found = _subject_of(root)
        if found is None or not found[0]:
            continue
        subject, root.reply = found
        kept = table.get(subject)
        if kept is None:
            table[subject] = root
        elif kept.msg is not None and (root.msg is None or (kept.reply and not root.reply)):
            kept.merge_into = root
            table[subject] = root
        else:
            root.merge_into = kept
    added: list[Node] = []
    for cur in roots:                                        # (D): merge
        if cur.merge_into is None or cur.gone:
            continue
        top = cur.merge_into
        while top.merge_into is not None:
            top = top.merge_into
        if cur.msg is None:                                  # both dummies: pool the children
            top.children.extend(cur.children)
            cur.children = []
            cur.gone = True
        elif top.msg is None or (cur.reply and not top.reply):
            top.children.append(cur)                         # a child of the kept thread
            cur.gone = True
        else:                                                # both under a new dummy
            dummy = Node()
            dummy.children = [top, cur]
            top.merge_into = dummy
            top.gone = cur.gone = True
            added.append(dummy)
    return [r for r in roots if not r.gone] + added


def references(msgs: Iterable[Msg]) -> list[Node]:
    """RFC 5256 §3 REFERENCES: the sorted root set (steps 1 to 6)."""
    roots = _gather_subjects(_prune(_build_links(msgs)))
    _sort_tree(roots)
    return roots


# --------------------------------------------------------------------------- the THREAD command


def thread(msgs: Iterable[Msg], algorithm: str, key: Callable[[Msg], int] = lambda m: m.seq) -> str:
    """The THREAD response text (after "THREAD "); ValueError for an unknown algorithm."""
    name = algorithm.upper()
    if name == "ORDEREDSUBJECT":
        roots = ordered_subject(msgs)
    elif name == "REFERENCES":
        roots = references(msgs)
    else:
        raise ValueError(f"Unknown thread algorithm {algorithm[:30]}")
    return format_threads(roots, key)
