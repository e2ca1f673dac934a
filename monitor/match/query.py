"""Rule text → syntax tree, with the column of every node so errors and explanations can point at it.

Grammar (loosest binding first)::

    query   := or
    or      := and ("OR" and)*
    and     := near (["AND"] near)*          juxtaposition means AND
    near    := unary ("NEAR" ["/" n] unary)*
    unary   := ("NOT" | "-") unary | primary
    primary := [field ":"] (word | word* | "phrase" | @entity | @"entity" | "(" or ")")

Operators are written in capitals; ``and``/``or``/``not``/``near`` in lower case are ordinary words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from monitor.errors import MatchError

FIELDS = ("title", "text", "lead", "feed", "tag", "lang")
NEAR_DEFAULT = 10
NEAR_MAX = 1000


@dataclass(frozen=True, slots=True)
class Node:
    start: int  # 0-based character offsets into the query text
    end: int


@dataclass(frozen=True, slots=True)
class Word(Node):
    text: str
    prefix: bool = False  # written with a trailing *


@dataclass(frozen=True, slots=True)
class Phrase(Node):
    text: str


@dataclass(frozen=True, slots=True)
class Entity(Node):
    name: str


@dataclass(frozen=True, slots=True)
class Field(Node):
    field: str
    child: Node


@dataclass(frozen=True, slots=True)
class Not(Node):
    child: Node


@dataclass(frozen=True, slots=True)
class And(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or(Node):
    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Near(Node):
    left: Node
    right: Node
    distance: int


class _Tok(NamedTuple):
    kind: str  # ( ) AND OR NOT NEAR - FIELD WORD PHRASE ENTITY END
    start: int
    end: int
    value: str = ""
    number: int = 0


_OPERATORS = ("AND", "OR", "NOT")
_NEAR = re.compile(r"NEAR(?:/(\S*))?$")
_FIELD = re.compile(r"([A-Za-z]+):")
_WORD_END = re.compile(r'[\s()"]')
_SPACE = re.compile(r"\s+")
_TERM = 'a word, a "phrase", an @entity or "("'


def _error(query: str, rule: str, column: int, message: str, expected: str | None = None) -> MatchError:
    return MatchError(message, rule=rule, query=query, column=column + 1, expected=expected)


def _lex(query: str, rule: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(query)
    while i < n:
        c = query[i]
        if c.isspace():
            i = _SPACE.match(query, i).end()  # type: ignore[union-attr]  # c is a space, so it matches
        elif c in "()":
            toks.append(_Tok(c, i, i + 1))
            i += 1
        elif c == '"' or (c == "@" and query.startswith('@"', i)):
            quote = i + (c == "@")
            close = query.find('"', quote + 1)
            if close < 0:
                raise _error(query, rule, quote, "this quote is never closed", 'a closing "')
            inner = query[quote + 1 : close]
            if not inner.strip():
                raise _error(query, rule, quote, "empty quotes", "some words between the quotes")
            toks.append(_Tok("ENTITY" if c == "@" else "PHRASE", i, close + 1, inner.strip()))
            i = close + 1
        elif c == "-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] not in ")-":
            toks.append(_Tok("-", i, i + 1))
            i += 1
        elif (m := _FIELD.match(query, i)) is not None:
            name = m.group(1)
            if name not in FIELDS:
                expected = ", ".join(f"{f}:" for f in FIELDS)
                raise _error(query, rule, i, f"unknown field {name + ':'!r}", expected)
            toks.append(_Tok("FIELD", i, m.end(), name))
            i = m.end()
        else:
            end_match = _WORD_END.search(query, i)
            end = end_match.start() if end_match else n
            word = query[i:end]
            if word in _OPERATORS:
                toks.append(_Tok(word, i, end))
            elif (near := _NEAR.match(word)) is not None:
                arg = near.group(1)
                if arg is not None and not (arg.isdigit() and int(arg) <= NEAR_MAX):
                    raise _error(query, rule, i + 5, f"{word!r} is not a distance", f"a number of words 0-{NEAR_MAX}")
                toks.append(_Tok("NEAR", i, end, number=int(arg) if arg else NEAR_DEFAULT))
            elif word.startswith("@"):
                if len(word) == 1:
                    raise _error(query, rule, i, "@ without an entity name", 'an entity name (@APEC, @"rare earths")')
                toks.append(_Tok("ENTITY", i, end, word[1:]))
            else:
                star = word.find("*")
                if 0 <= star < len(word) - 1:
                    raise _error(query, rule, i + star, "a wildcard * can only end a word", "magnet* style")
                toks.append(_Tok("WORD", i, end, word))
            i = end
    toks.append(_Tok("END", n, n))
    return toks


class _Parser:
    def __init__(self, query: str, rule: str) -> None:
        self.query = query
        self.rule = rule
        self.toks = _lex(query, rule)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def fail(self, tok: _Tok, message: str, expected: str | None = None) -> MatchError:
        return _error(self.query, self.rule, tok.start, message, expected)

    def parse(self) -> Node:
        if self.peek().kind == "END":
            raise self.fail(self.peek(), "the query is empty", _TERM)
        node = self.parse_or()
        tok = self.peek()
        if tok.kind == ")":
            raise self.fail(tok, "')' without a matching '('", "an operator or the end of the query")
        if tok.kind != "END":  # pragma: no cover - parse_and consumes every other token
            raise self.fail(tok, f"unexpected {tok.kind}", "the end of the query")
        return node

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek().kind == "OR":
            self.take()
            children.append(self.operand("OR"))
        return children[0] if len(children) == 1 else Or(children[0].start, children[-1].end, tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_near()]
        while True:
            kind = self.peek().kind
            if kind == "AND":
                self.take()
                children.append(self.operand("AND", near=True))
            elif kind in ("WORD", "PHRASE", "ENTITY", "FIELD", "(", "NOT", "-"):
                children.append(self.parse_near())
            else:
                break
        return children[0] if len(children) == 1 else And(children[0].start, children[-1].end, tuple(children))

    def operand(self, after: str, near: bool = False) -> Node:
        tok = self.peek()
        if tok.kind in ("END", ")", "AND", "OR", "NEAR"):
            what = "the end of the query" if tok.kind == "END" else repr(self.query[tok.start : tok.end])
            raise self.fail(tok, f"{after} is followed by {what}", f"{_TERM} after {after}")
        return self.parse_near() if near else self.parse_and()

    def parse_near(self) -> Node:
        left = self.parse_unary()
        while self.peek().kind == "NEAR":
            op = self.take()
            name = self.query[op.start : op.end]
            tok = self.peek()
            if tok.kind not in ("WORD", "PHRASE", "ENTITY", "FIELD", "("):
                raise self.fail(op, f"{name} needs an operand on each side", f"{_TERM} after {name}")
            right = self.parse_unary()
            left = Near(left.start, right.end, left, right, op.number)
        return left

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok.kind in ("NOT", "-"):
            self.take()
            nxt = self.peek()
            if nxt.kind in ("END", ")", "AND", "OR", "NEAR"):
                raise self.fail(nxt, f"{'NOT' if tok.kind == 'NOT' else '-'} without a term to exclude", _TERM)
            child = self.parse_unary()
            return Not(tok.start, child.end, child)
        if tok.kind == "NEAR":
            name = self.query[tok.start : tok.end]
            raise self.fail(tok, f"{name} needs an operand on each side", f"{_TERM} before {name}")
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "FIELD":
            nxt = self.peek()
            if nxt.kind not in ("WORD", "PHRASE", "ENTITY", "("):
                raise self.fail(nxt, f"{tok.value}: is not followed by a term", f"{_TERM} after {tok.value}:")
            child = self.parse_primary()
            return Field(tok.start, child.end, tok.value, child)
        if tok.kind == "(":
            if self.peek().kind == ")":
                raise self.fail(self.peek(), "empty parentheses", _TERM)
            inner = self.parse_or()
            close = self.peek()
            if close.kind != ")":
                raise self.fail(close, "this '(' is never closed" if close.kind == "END" else "unexpected token", "')'")
            self.take()
            return _reposition(inner, tok.start, close.end)
        if tok.kind == "WORD":
            prefix = tok.value.endswith("*")
            return Word(tok.start, tok.end, tok.value.rstrip("*") if prefix else tok.value, prefix)
        if tok.kind == "PHRASE":
            return Phrase(tok.start, tok.end, tok.value)
        if tok.kind == "ENTITY":
            return Entity(tok.start, tok.end, tok.value)
        if tok.kind == ")":
            raise self.fail(tok, "')' without a matching '('", _TERM)
        if tok.kind == "END":
            raise self.fail(tok, "the query ends too early", _TERM)
        raise self.fail(tok, f"{self.query[tok.start : tok.end]!r} cannot start a term", _TERM)


def _reposition(node: Node, start: int, end: int) -> Node:
    """A parenthesised group spans its parentheses (so explanations quote them)."""
    if isinstance(node, And):
        return And(start, end, node.children)
    if isinstance(node, Or):
        return Or(start, end, node.children)
    if isinstance(node, Near):
        return Near(start, end, node.left, node.right, node.distance)
    if isinstance(node, Not):
        return Not(start, end, node.child)
    return node


def parse_query(query: str, rule: str = "") -> Node:
    """Parse one rule's query. Raises MatchError with the rule name, column, what was expected and a caret."""
    return _Parser(query, rule).parse()
