"""YAML reading that remembers where every value came from, so errors can say ``file:line: reason``."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec.inspect as mi
import yaml

from cjo_stream.journeys.foreign_steps import foreign_key

Path = tuple[str | int, ...]


class SourceError(ValueError):
    """A problem in a user file, located by file and line."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason

    @property
    def problems(self) -> list[SourceError]:
        """Every problem this error stands for (one; several for :class:`SourceErrors`)."""
        return [self]


class SourceErrors(SourceError):
    """Several problems in one file, found in one pass (the first one's place and reason, all of them listed)."""

    def __init__(self, found: list[SourceError]) -> None:
        first = found[0]
        super().__init__(first.file, first.line, first.reason)
        self.args = ("\n".join(str(p) for p in found),)
        self.found = found

    @property
    def problems(self) -> list[SourceError]:
        return list(self.found)


@dataclass
class Located:
    """Plain data (dicts, lists, scalars) plus the line of every mapping key and list item."""

    file: str
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    #: Block scalars (``body: |``, ``>``): the line their text starts on (the one after the ``|``) and
    #: whether each line of the text is a line of the file (``|``, not ``>``, which folds lines).
    blocks: dict[Path, tuple[int, bool]] = field(default_factory=dict)
    #: Texts whose lines YAML folds (``>``, and plain or quoted text over several lines): the file's line of
    #: their first line of text, and those lines as the file has them.
    folded: dict[Path, tuple[int, list[str]]] = field(default_factory=dict)

    def text_line(self, path: Path, text: str, index: int) -> int:
        """The file's line of character ``index`` of ``text``, the value at ``path``: in a ``|`` block by its
        line breaks; in a folded text by finding the file's lines in it, one after the other (each is there
        whole: folding only turns the breaks between them into spaces); where that cannot be told (an
        escape in a quoted text), the last line found before it, at worst the line the text starts on."""
        first, literal = self.blocks.get(path, (self.line(path), False))
        if literal:
            return first + text.count("\n", 0, index)
        start, lines = self.folded.get(path, (first, []))
        line, pos = start, 0
        for k, raw in enumerate(lines):
            content = raw.strip().strip("\"'")
            if not content:
                continue
            at = text.find(content, pos)
            if at < 0 and "''" in content:  # a single-quoted text's '' is one ' in the value
                content = content.replace("''", "'")
                at = text.find(content, pos)
            if at < 0 or at > index:
                break
            line, pos = start + k, at + len(content)
        return line

    def line(self, path: Path) -> int:
        """Line of the deepest known prefix of ``path`` (1 when nothing matches)."""
        for n in range(len(path), -1, -1):
            line = self.lines.get(path[:n])
            if line is not None:
                return line
        return 1

    def error(self, path: Path, reason: str) -> SourceError:
        return SourceError(self.file, self.line(path), reason)

    def error_at(self, path: Path, text: str, index: int, reason: str) -> SourceError:
        """A problem at character ``index`` of the text at ``path``, told at that character's line (a condition
        folded over several lines was told at its first); ``index`` -1: at the value's line."""
        return SourceError(self.file, self.text_line(path, text, index) if index >= 0 else self.line(path), reason)


_constructor = yaml.constructor.SafeConstructor()
_MERGE = "tag:yaml.org,2002:merge"


#: Values one file may expand to: journeys are a few hundred; YAML aliases (``*a``) re-used a million
#: times ("billion laughs") would otherwise expand without bound.
MAX_NODES = 50_000


def _build(node: yaml.Node, path: Path, lines: dict[Path, int], file: str,
           blocks: dict[Path, tuple[int, bool]], folded: dict[Path, tuple[int, list[str]]]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if len(lines) > MAX_NODES:
        raise SourceError(file, node.start_mark.line + 1, f"the file expands to more than {MAX_NODES} values "
                                                          "(YAML aliases?)")
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        keys = [(k, v) for k, v in node.value if k.tag != _MERGE]
        for key_node, value_node in node.value:  # merge keys (`<<: *defaults`) first: the mapping's own keys win
            if key_node.tag == _MERGE:
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise SourceError(file, source.start_mark.line + 1,
                                          "a merge key (<<) takes a mapping, or a list of mappings, to merge in")
                    for key, value in _build(source, path, lines, file, blocks, folded).items():
                        out.setdefault(key, value)  # (of several, the first that has a key wins, as YAML says)
        own: set[Any] = set()
        for key_node, value_node in keys:
            key = _construct(key_node, file)
            if not isinstance(key, str | int) or isinstance(key, bool):
                line = key_node.start_mark.line + 1
                buffer = key_node.start_mark.buffer
                hint = unquoted_template(buffer, line) if isinstance(buffer, str) else None
                raise SourceError(file, line, f"YAML syntax: {hint}" if hint else f"mapping keys must be text, got {key!r}")
            if key in own:
                raise SourceError(file, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            own.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), lines, file, blocks, folded)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, file, blocks, folded) for i, item in enumerate(node.value)]
    if isinstance(node, yaml.ScalarNode):
        start, end = node.start_mark, node.end_mark
        if node.style in ("|", ">"):
            blocks[path] = (start.line + 2, node.style == "|")  # the text starts below the indicator
        if node.style != "|" and end.line > start.line and start.buffer is not None:
            text = start.buffer[start.index:end.index].split("\n")
            # a block's first line is its indicator (`>-`, perhaps a comment); a plain or quoted text starts at once
            folded[path] = (start.line + 2, text[1:]) if node.style == ">" else (start.line + 1, text)
    return _construct(node, file)


def _construct(node: yaml.Node, file: str) -> Any:
    """A scalar's (or a complex key's) value; a tag the safe loader does not know (``!custom``,
    ``!!python/object``) or a date that does not exist (``2024-13-45``) is a :class:`SourceError`."""
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.MarkedYAMLError as e:
        raise SourceError(file, node.start_mark.line + 1, f"YAML: {e.problem or e}") from None
    except (ValueError, OverflowError) as e:  # e.g. a YAML 1.1 timestamp with month 13
        raise SourceError(file, node.start_mark.line + 1, f"YAML: {node.value!r} cannot be read ({e})") from None


def read_source(path: str) -> str:
    """The text of a topology file, or a :class:`SourceError` saying why it cannot be read: a file that
    is not UTF-8 (a Latin-1 editor), a directory named ``*.yaml``, a dangling link, no permission."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise SourceError(path, 1, f"cannot read the file: {(e.strerror or str(e)).lower()}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise SourceError(path, line, f"not UTF-8 text (byte {data[e.start]:#x}): save the file as UTF-8") from None


def blank(text: str) -> bool:
    """Only blank lines and comments (every setting commented out): for the optional files, the same as no
    file; a journey file like that is still refused as empty."""
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


#: PyYAML's words for a line indented unlike the lines above it (``expected <block end>, but found '?'``), which
#: told an author nothing of indentation (a walkthrough); and for a line holding ``key: value: more``
_BLOCK_END = re.compile(r"(while parsing a block (mapping|collection), )?expected <block end>, but found .*")
_MAPPING_VALUES = "mapping values are not allowed here"


#: a value that starts with a Liquid tag or output, unquoted (``body: {{ x }}``, ``- {% if %}``): YAML reads ``{`` as
#: a mapping, so ``{{ x }}`` is a mapping inside a mapping, and ``%`` starts no value (a walkthrough was told "mapping
#: keys must be text, got {'profile.traits.first_name': None}", or that the line was "indented unlike the lines above")
_UNQUOTED_TEMPLATE = re.compile(r"^\s*(?:-\s+)?(?:(?P<key>[^\s:#'\"{}\[\],]+):\s+)?(?P<value>\{[{%].*?)\s*$")
#: the same inside a ``{ }`` mapping on one line (``content: {subject: {{ x }}, body: y}``)
_UNQUOTED_TEMPLATE_IN_FLOW = re.compile(r"(?:^|[\s,{\[])(?P<key>[^\s:#'\"{}\[\],]+):\s+\{(?P<tag>[{%])")


def unquoted_template(text: str, line: int) -> str | None:
    """What to write when line ``line`` (1-based) of ``text`` starts a value with ``{{`` or ``{%`` unquoted, else None."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return None
    text_line = lines[line - 1]
    found = _UNQUOTED_TEMPLATE.match(text_line)
    if found is None:
        in_flow = _UNQUOTED_TEMPLATE_IN_FLOW.search(text_line)
        if in_flow is None:
            return None
        shown = "{{ ... }}" if in_flow["tag"] == "{" else "{% ... %}"
        return _QUOTE_IT + f'{in_flow["key"]}: "{shown}"'
    if found["key"] is None and not text_line.lstrip().startswith("-"):
        return None  # a line of a block's text (`body: |`) that YAML ended by its indentation: not this mistake
    value = found["value"]
    quoted = "'" + value.replace("'", "''") + "'" if '"' in value else '"' + value.replace("\\", "\\\\") + '"'
    example = f"{found['key']}: {quoted}" if found["key"] else quoted
    return _QUOTE_IT + example


_QUOTE_IT = "a template that starts a value must be in quotes (unquoted, YAML reads { as a mapping): "


def _indentation_hint(problem: str) -> str:
    """PyYAML's reason, saying what the author most likely did: indent a line unlike its neighbours."""
    if problem == "found character '\\t' that cannot start any token":
        return f"{problem}: a tab; YAML indents with spaces only"
    if _BLOCK_END.fullmatch(problem):
        return ("this line is indented unlike the lines above it: the keys of one mapping (a step's `id`, `send`, "
                "`next`, ...) start in one column, and so does the `-` of each item of one list")
    if problem == _MAPPING_VALUES:
        return (f"{problem}: a line here or just above is indented deeper than the keys beside it, or a value "
                "holds ': ' (put it in quotes)")
    return problem


def _unclosed_quote(text: str, e: yaml.MarkedYAMLError) -> tuple[int, str] | None:
    """(line, reason) when the syntax error follows a quoted value whose closing quote is missing: YAML reads on
    to the next quote of the file (or its end), and its words named a line below, indented unlike the lines above
    it or "found unexpected end of stream" (a walkthrough), never the line to mend."""
    if e.context == "while scanning a quoted scalar" and e.context_mark is not None:
        start = e.context_mark.line + 1
        return start, "the quoted value that starts on this line is never closed: add its closing quote"
    problem = e.problem_mark
    if problem is None:
        return None
    last: yaml.Token | None = None
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if token.start_mark.index >= problem.index:
                break
            last = token
    except yaml.YAMLError:
        pass  # the tokens before the error are what counts
    if not (isinstance(last, yaml.ScalarToken) and last.style in ('"', "'") and last.end_mark.line == problem.line):
        return None
    start, end = last.start_mark.line + 1, last.end_mark.line + 1
    if start == end:  # `"Hi {{ x | default: "there" }}"`: the inner quote ended the value (a walkthrough)
        other = "'" if last.style == '"' else '"'
        lines = text.splitlines()
        rest = lines[problem.line][last.end_mark.column:].strip() if problem.line < len(lines) else ""
        return start, (f"the value quoted with {last.style} ends at the {last.style} before `{rest[:40]}`: a "
                       f"{last.style} inside the value ends it; quote with {other} inside it"
                       + (", or write each ' inside it twice ('')" if last.style == "'" else ""))
    return start, (f"the quoted value that starts on this line runs on to line {end}, where the next {last.style} "
                   f"closes it: add its closing quote on this line")


def load_yaml(text: str, file: str) -> Located:
    """Parse one YAML document; syntax errors become :class:`SourceError` with the line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        quote = _unclosed_quote(text, e)
        if quote is not None:
            raise SourceError(file, quote[0], f"YAML syntax: {quote[1]}") from None
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else 1
        problem = str(e.problem or e)
        if e.context and problem.startswith("but "):  # "but found another document" alone said nothing
            problem = f"{e.context}, {problem}"
        if "another document" in problem:  # a second `---` document: the loader reads one journey per file
            problem += " (one journey per file: put the second in a file of its own)"
        # `{event: x, when: profile.last['Order Completed'] > 30}`: inside { } or [ ] an unquoted value ends at
        # its first , [ ] { }, and YAML's own words did not say to quote it (a walkthrough)
        if re.match(r"expected ',' or '[}\]]', but got", problem):
            problem += " (inside { } or [ ], a value holding , [ ] { } is cut there: put it in quotes)"
        problem = unquoted_template(text, line) or _indentation_hint(problem)
        raise SourceError(file, line, f"YAML syntax: {problem}") from None
    except yaml.reader.ReaderError as e:  # a control character or invalid text: not a marked error
        line = text.count("\n", 0, max(e.position, 0)) + 1
        raise SourceError(file, line, f"YAML: character {e.character:#x} is not allowed in a journey file") from None
    except RecursionError:
        raise SourceError(file, 1, _TOO_DEEP) from None
    except yaml.YAMLError as e:  # anything else the parser refuses
        raise SourceError(file, 1, f"YAML: {type(e).__name__}") from None
    if node is None:
        raise SourceError(file, 1, "the file is empty")
    lines: dict[Path, int] = {}
    blocks: dict[Path, tuple[int, bool]] = {}
    folded: dict[Path, tuple[int, list[str]]] = {}
    try:
        return Located(file, _build(node, (), lines, file, blocks, folded), lines, blocks, folded)
    except RecursionError:
        raise SourceError(file, 1, _TOO_DEEP) from None


_TOO_DEEP = "YAML: lists or mappings nested too deeply (hundreds of levels)"

#: a step's own keys, which an author may indent under its action (``send:``, ``update:``, ``wait_for:``)
_STEP_KEYS = frozenset({"id", "next", "on_event", "on_timeout"})

#: keys of a message's content an author may write beside ``channel`` instead of under ``content``
_MESSAGE_FIELDS = frozenset({"subject", "body", "text", "title", "html", "message"})


#: Adobe Journey Optimizer's activities and journey properties written as keys (``condition:``, ``jump:``), and the
#: step or key that does it here (README, "Coming from Adobe Journey Optimizer")
_AJO_KEYS = {
    "condition": "branch: [{when: ..., next: ...}, {else: ...}]",
    "reaction": "wait_for: {event: message_opened, timeout: 3d, when: \"event.properties.journey == journey.id\"}",
    "jump": "enter: <journey>",
    "end": "next: end",
    "action": "send: {channel: webhook, to: ..., content: {...}}",
    "custom_action": "send: {channel: webhook, to: ..., content: {...}}",
    "update_profile": "update: {traits: {...}}",
    "percentage_split": "split: [{variant: a, weight: 50, next: ...}, ...]",
    "event": "wait_for: {event: ..., timeout: 1d}",  # an event activity inside the journey, not its entry
    "audience_qualification": "wait_for: {condition: \"profile.traits.tier == 'gold'\", timeout: 7d}",
    "exit_criteria": "exit_on: [{event: ...}, {condition: ...}]",
    "reentrance": "re_entry: always | once | after 1d",
    "allow_reentrance": "re_entry: always | once | after 1d",
}

#: keys whose text is a duration (``1h``): a bare number there lacks its unit, quoting it would not do
_DURATION_KEYS = frozenset({"wait", "timeout", "expires_in", "per", "max_duration", "within", "every"})

_BARE_DURATION = re.compile(r"\d+(\.\d+)?\s*[a-z]+")


def re_entry_hint(value: Any) -> str:
    """What a journey's ``re_entry`` takes, and what was likely meant by ``value``, which is none of it: YAML's
    ``false``/``no`` and ``true``/``yes`` (quoted or not) or a duration without its ``after``. Told to quote
    ``re_entry: false``, an author wrote ``'false'``, invalid as well (a walkthrough)."""
    text = str(value).strip().lower()  # (YAML 1.1 reads no, off as false and yes, on as true)
    forms = "use once, always or after <duration>, e.g. after 7d"
    if text in ("false", "no", "off", "never", "none"):
        return f"{forms}; for no re-entry write once, the default"
    if text in ("true", "yes", "on"):
        return f"{forms}; to re-enter whenever not in the journey write always"
    if _BARE_DURATION.fullmatch(text):
        return f"{forms}; write after {text}"
    if text.isdigit():
        return f"{forms}; a duration needs a unit, e.g. after {text}d"
    return forms


#: What a bounded number means, for msgspec's bare "Expected `float` < 100.0" (`holdout: 150`, a walkthrough):
#: the key's meaning and an example, by the last part of its path.
_RANGES: dict[str, str] = {
    "holdout": "the percent of entrants kept as control, e.g. holdout: 10",
    "percent": "the percent of all customers held out of every journey, e.g. percent: 5",
    "weight": "an arm's share relative to the other arms, e.g. weight: 50",
    "max": "how many sends a window allows, e.g. max: 100",
    "version": "raised when the journey's steps change, e.g. version: 2",
}
_BOUND = re.compile(r"Expected `(?:float|int)` (>=|>|<=|<) (-?[0-9.e+]+)$")


def _range_hint(key: object, bound: re.Match[str], value: object) -> str:
    """``holdout: 150 is out of range: it must be below 100 (the percent ...)`` for a number past a bound."""
    words = {">=": "at least", ">": "above", "<=": "at most", "<": "below"}[bound.group(1)]
    text = bound.group(2)
    whole = text.removesuffix(".0")
    shown = f"{int(whole):,}" if whole.lstrip("-").isdigit() else text
    meaning = f" ({_RANGES[key]})" if isinstance(key, str) and key in _RANGES else ""
    return f"{value!r} is out of range: it must be {words} {shown}{meaning}"


_PATH_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\[\.\.\.\])")
#: msgspec's name of a value's type in "got `...`" -> what it is in the parsed YAML
_GOT: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool), "float": lambda v: isinstance(v, float),
    "bool": lambda v: isinstance(v, bool), "null": lambda v: v is None, "str": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list), "object": lambda v: isinstance(v, dict)}


def _key_in(data: Any, reason: str) -> str | None:
    """The key of a mapping msgspec names only as ``[...]`` (a value of ``content:``, say): the first whose
    value is of the type it got. The mistake was reported at the mapping's line, not the value's."""
    if not isinstance(data, dict) or not data:
        return None
    got = re.search(r"got `(\w+)`", reason)
    fits = _GOT.get(got.group(1)) if got else None
    for k, v in data.items():
        if fits is None or fits(v):
            return str(k)
    return None


def _step_without_id(data: Any, i: int) -> str:
    """Why step ``i`` has no ``id``: its keys written as list items of their own under the step above (``- id: a``
    then ``- wait: 1h``), or a step begun without one; msgspec said only "missing required key `id`"."""
    steps = _value_at(data, ["steps"])
    step = steps[i] if isinstance(steps, list) and i < len(steps) else None
    if not isinstance(step, dict) or not step:
        return ""
    key = next(iter(step))
    above = steps[i - 1] if i > 0 else None
    if isinstance(above, dict) and set(above) == {"id"}:
        return (f" (`- {key}:` begins a step of its own: a step's keys go under its `- id: {above['id']}` "
                f"without a `-`, level with `id:`)")
    return f" (each step begins `- id: <name>`, its `{key}:` under it, level with `id:`)"


def _value_at(data: Any, path: Iterable[str | int]) -> Any:
    """The value at ``path`` in the parsed YAML ``data``, or None where it has none."""
    for part in path:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return None
    return data


def _misplaced(data: Any, path: list[str | int], key: str) -> tuple[Path, str] | None:
    """A required ``key`` missing under ``path`` that the mapping above it has: the line of ``key`` indented one
    level too little (``content:`` under a step, beside ``send:``), which msgspec told only as "missing required
    key" at the line of ``send`` (a walkthrough). Its path and reason, or None."""
    if not path or not isinstance(path[-1], str):
        return None
    parent = _value_at(data, path[:-1])
    if not isinstance(parent, dict) or key not in parent:
        return None
    at = [*path[:-1], key]
    return tuple(at), (f"{'.'.join(str(p) for p in at)}: `{key}` is indented as `{path[-1]}`'s neighbour, and "
                       f"`{path[-1]}` misses it (missing required key `{key}`): indent it under `{path[-1]}`")


def parse_msgspec_path(message: str, spec: Any = None, data: Any = None) -> tuple[Path, str]:
    """Split a msgspec validation message into the data path it names and a readable reason; with the
    ``spec`` type it was converted to, a mistyped key or value also says what was meant (a typo such as
    ``wait_fro`` or ``channel: emial`` otherwise left the user to look the names up); with the ``data`` it
    was converted from, a value msgspec names only as ``[...]`` in a mapping gets its key (and its line)."""
    reason, _, where = message.partition(" - at `")
    path: list[str | int] = []
    node = data
    for m in _PATH_PART.finditer(where.rstrip("`").removeprefix("$")):
        if m.group(3) is not None:
            key = _key_in(node, reason)
            if key is None:
                break
            path.append(key)
        else:
            path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        step = path[-1]
        node = node.get(step) if isinstance(node, dict) else (
            node[step] if isinstance(node, list) and isinstance(step, int) and step < len(node) else None)
    unknown = re.search(r"unknown field `([^`]+)`", reason)
    if unknown:
        path.append(unknown.group(1))
    missing = re.search(r"missing required field `([^`]+)`", reason)
    if missing:
        reason = f"missing required key `{missing.group(1)}`"
        beside = _misplaced(data, path, missing.group(1))
        if beside is not None:
            return beside
    if missing and missing.group(1) == "id" and len(path) == 2 and path[0] == "steps" and isinstance(path[1], int):
        reason += _step_without_id(data, path[1])
    if spec is not None:
        told = foreign_key(tuple(path), unknown.group(1), node) if unknown else ""
        reason += told or _suggestion(spec, path, unknown.group(1) if unknown else None, reason,
                                      node if unknown and isinstance(node, dict) else ())
    # `when: true`, `wait: 3600`, `wait_until: 21:30` (YAML 1.1 reads it as 1290: base 60; str | object there)
    if re.match(r"Expected `str( \| object)?( \| null)?`, got `(bool|int|float)`", reason):
        if path == ["re_entry"]:  # `re_entry: false` is no text in quotes either (a walkthrough)
            reason += f" ({re_entry_hint(node)})"
        elif path and path[-1] in _DURATION_KEYS:
            reason += " (a duration needs a unit: e.g. 30s, 15m, 1h, 7d)"
        else:
            reason += " (put it in quotes: unquoted, YAML reads it as a number or true/false, not as text)"
    bound = _BOUND.match(reason)
    if bound and isinstance(node, int | float) and not isinstance(node, bool):
        reason = _range_hint(path[-1] if path else None, bound, node)
    elif path and isinstance(path[-1], str) and path[-1] in _RANGES:
        if reason.startswith("Expected `int`, got `float`") and isinstance(node, float):  # `version: 1.5`
            reason = f"{node!r} is not a whole number ({_RANGES[path[-1]]})"
        elif re.match(r"Expected `(float|int)`, got `(str|bool)`", reason) and isinstance(node, str | bool) \
                and path != ["version"] and not (isinstance(node, str) and node.strip().endswith("%")):
            # `holdout: ten`, `weight: yes` (`version: v2` and `holdout: 10%` have hints of their own below)
            shown = str(node).lower() if isinstance(node, bool) else repr(node)
            quoted = isinstance(node, str) and re.fullmatch(r"\s*-?[0-9.]+(e[+-]?[0-9]+)?\s*", node, re.I)
            reason = f"{shown} is {'text in quotes' if quoted else 'not a number'} ({_RANGES[path[-1]]})"
    # `holdout: 10%`, `weight: 50%`: a percent as Braze's forms write it (a walkthrough)
    if re.match(r"Expected `(float|int)`", reason) and ", got `str`" in reason and isinstance(node, str) \
            and node.strip().endswith("%"):
        reason += f" (a plain number: {node.strip().removesuffix('%').strip()}, not {node.strip()})"
    # `paths: {event: a}`, `paths: []`, `paths: [a, b]`: msgspec's types named no form to write (a walkthrough)
    if path[-2:] == ["wait_for", "paths"] and reason.startswith("Expected `array"):
        reason += " (a list of one path or more: `- {event: ..., when: ..., next: ...}`)"
    elif path[-3:-1] == ["wait_for", "paths"] and reason.startswith("Expected `object`"):
        reason += " (each path is `{event: ..., when: ..., next: ...}`)"
    # `goal: Order Completed`, `exit_on: Unsubscribed`: an event named where its mapping goes, as a Canvas names
    # it; msgspec's "Expected `object`, got `str`" said nothing of what to write (a walkthrough)
    if isinstance(node, str) and reason.endswith(", got `str`") and path:
        last, name = path[-1], node.strip()
        if last in ("entry", "goal") and reason.startswith("Expected `object"):
            reason += f" (an event is a mapping: {last}: {{event: {name}}})"
        elif last == "wait_for" and reason.startswith("Expected `object"):
            reason += f" (an event is a mapping, with its timeout: wait_for: {{event: {name}, timeout: 1d}})"
        elif last == "exit_on" and reason.startswith("Expected `array"):
            reason += f" (a list of events: exit_on: [{{event: {name}}}])"
        elif path[-2:-1] == ["exit_on"] and reason.startswith("Expected `object"):
            reason += f" (each event is a mapping: - {{event: {name}}})"
        elif last == "content" and path[-2:-1] == ["send"] and reason.startswith("Expected `object"):
            reason += " (the message's fields, each a template: content: {subject: ..., body: ...})"
    # `headers: {X-Source: cjo}`: a content field (a webhook request's headers too) is text, a template; msgspec
    # said only "Expected `str`, got `object`" of the mapping a newcomer writes (a walkthrough)
    if len(path) >= 2 and path[-2] == "content" and isinstance(node, dict | list) \
            and reason.startswith("Expected `str"):
        if path[-1] == "headers" and isinstance(node, dict):
            shown = json.dumps({str(k): str(v) for k, v in node.items()})
            reason += f" (headers are a JSON object in quotes: headers: '{shown[:80]}')"
        else:
            reason += " (a content field is text, a Liquid template: write JSON in quotes, or {{ ... | json }})"
    # `content:` (or `entry:`) with nothing under it and its keys written level with it: msgspec said only
    # "Expected `object`, got `null`" (a walkthrough)
    if node is None and path and isinstance(path[-1], str) and re.match(r"Expected `object.*got `null`$", reason):
        parent = _value_at(data, path[:-1])
        known = {f.encode_name for t in _types_at(spec, path[:-1]) if isinstance(t, mi.StructType)
                 for f in t.fields} if spec is not None else set()
        stray = [str(k) for k in parent if k not in known] if isinstance(parent, dict) and known else []
        if stray:
            them = ", ".join(f"`{k}`" for k in stray[:3])
            reason += f" (`{path[-1]}:` has nothing under it, and {them} {'is' if len(stray) == 1 else 'are'} " \
                      f"written level with it: indent {'it' if len(stray) == 1 else 'them'} under `{path[-1]}:`)"
        else:
            reason += f" (`{path[-1]}:` has nothing under it: write its keys indented under it)"
    # `exit_on: {event: x}` written as the goal is (a mapping), and `version: v2`: msgspec named only the types
    if path == ["exit_on"] and reason.startswith("Expected `array`, got `object`") and isinstance(node, dict):
        more = ", ..." if len(node) > 1 else ""
        reason += f" (a list of events, even of one: exit_on: [{{event: {node.get('event', '...')}{more}}}])"
    if path == ["version"] and reason.startswith("Expected `int`, got `str`") and isinstance(node, str):
        digits = re.sub(r"\D", "", node)
        reason += f" (a whole number: version: {digits or 2})"
    # `global_control: 5`: the percent where its mapping goes (a walkthrough)
    if path == ["global_control"] and reason.startswith("Expected `object") and isinstance(node, int | float) \
            and not isinstance(node, bool):
        reason += f" (a mapping: global_control: {{percent: {node}}})"
    # `send: {channel: email, subject: ..., body: ...}`: the fields beside the channel, not under content (a walkthrough)
    if unknown and path[-2:-1] == ["send"] and path[-1] in _MESSAGE_FIELDS:
        reason = re.sub(r" \((did you mean|known keys).*\)$", "", reason) + \
            " (a message's fields go under content: content: {subject: ..., body: ...})"
    # `next:` indented under the step's action (`update: {traits: ..., next: b}`): the step's key, one level up
    if unknown and len(path) == 4 and path[0] == "steps" and path[-1] in _STEP_KEYS:
        reason = re.sub(r" \((did you mean|known keys).*\)$", "", reason) + \
            f" (`{path[-1]}` is the step's: indent it level with the step's `id:` and `{path[2]}:`)"
    # `condition:`, `jump:`, `exit_criteria:`: an Adobe Journey Optimizer activity or property by its own name
    if unknown and path[-1] in _AJO_KEYS and (len(path) == 3 and path[0] == "steps" or path in (
            ["exit_criteria"], ["reentrance"], ["allow_reentrance"])):
        reason = re.sub(r" \((did you mean|known keys).*\)$", "", reason) + \
            f" (Adobe Journey Optimizer's {path[-1]} is `{_AJO_KEYS[str(path[-1])]}` here: README, \"Coming from " \
            "Adobe Journey Optimizer\")"
    # `email: {subject: ...}` as a step: a channel's message is a send step (AJO's and Braze's canvases show it so)
    elif unknown and len(path) == 3 and path[0] == "steps" and isinstance(path[-1], str):
        from cjo_stream.commands import ALL_CHANNELS

        if path[-1] in ALL_CHANNELS:
            reason = re.sub(r" \((did you mean|known keys).*\)$", "", reason) + \
                f" (a message is a send step: `send: {{channel: {path[-1]}, content: {{...}}}}`)"
    # `id: Nudge-1`, `journey: Cart Winback`, `variant: 10% off`: msgspec names the pattern, which told an author
    # (a walkthrough) neither what an id may hold nor what to write
    pattern = re.fullmatch(r"Expected `str` matching regex '(\^\[a-z\]\[a-z0-9_\]\{0,47\}|\^\[a-z0-9_\]\+)\$'", reason)
    if pattern and isinstance(node, str):
        slug = re.sub(r"[^a-z0-9_]+", "_", node.lower()).strip("_")
        if "channel" in path[-2:]:  # `e-mail` was told to write 'e_mail', no channel either (a walkthrough)
            from cjo_stream.commands import ALL_CHANNELS

            bare = re.sub(r"[^a-z0-9]+", "", node.lower())
            slug = next((c for c in sorted(ALL_CHANNELS) if c.replace("_", "") == bare), slug)
        first = ", starting with a letter, at most 48" if pattern.group(1).startswith("^[a-z][") else ""
        reason = (f"{node!r} is not a name: use lower-case letters, digits and _{first}"
                  + (f" (e.g. {slug!r})" if slug and slug != node else ""))
    shown = ".".join(str(p) for p in path)
    return tuple(path), (f"{shown}: {reason}" if shown else reason)


#: words for "go to this step" from other tools and languages: each means ``next``
_NEXT_WORDS = frozenset({"then", "goto", "go_to", "next_step", "target", "step"})


def _suggestion(spec: Any, path: list[str | int], unknown: str | None, reason: str,
                present: Iterable[Any] = ()) -> str:
    """`` (did you mean `wait_for`?)`` for an unknown key, `` (one of: email, sms, ...)`` for a bad value. A key
    the mapping has (``present``) is not suggested: a branch case's ``then:`` was told "did you mean `when`?"
    beside its ``when:`` (a walkthrough); it means ``next``."""
    import difflib

    if unknown is not None:
        keys = [f.encode_name for t in _types_at(spec, path[:-1]) if isinstance(t, mi.StructType) for f in t.fields]
        free = [k for k in keys if k not in set(present)]
        if unknown in _NEXT_WORDS and "next" in free:
            return " (did you mean `next`?)"
        close = difflib.get_close_matches(unknown, free, n=1, cutoff=0.6)
        if close:
            return f" (did you mean `{close[0]}`?)"
        return f" (known keys: {', '.join(keys)})" if keys else ""
    if reason.startswith("Invalid enum value"):
        values = [str(v) for t in _types_at(spec, path) if isinstance(t, mi.LiteralType) for v in t.values]
        return f" (one of: {', '.join(values)})" if values else ""
    return ""


def _types_at(spec: Any, path: list[str | int]) -> list[mi.Type]:
    """The msgspec types a data path can reach in ``spec`` (unions followed on every branch)."""

    def expand(t: mi.Type) -> list[mi.Type]:
        if isinstance(t, mi.UnionType):
            return [x for u in t.types for x in expand(u)]
        if isinstance(t, mi.Metadata):
            return expand(t.type)
        return [t]

    types = expand(mi.type_info(spec))
    for part in path:
        reached: list[mi.Type] = []
        for t in types:
            if isinstance(part, int) and isinstance(t, mi.ListType | mi.VarTupleType):
                reached += expand(t.item_type)
            elif isinstance(part, str) and isinstance(t, mi.StructType):
                reached += [x for f in t.fields if f.encode_name == part for x in expand(f.type)]
            elif isinstance(part, str) and isinstance(t, mi.DictType):
                reached += expand(t.value_type)
        types = reached
    return types


def step_line(file: str, step: str, *below: str) -> int | None:
    """The line of journey step ``step`` in ``file`` (of the deepest of ``below`` under it found), so that what a
    run tells about a step reads ``file:line:`` as a refusal does: the compiled journey keeps no lines. None when
    the file can no longer be read or no longer has the step (edited since it was loaded)."""
    try:
        src = load_yaml(read_source(file), file)
    except SourceError:
        return None
    steps = src.data.get("steps") if isinstance(src.data, dict) else None
    for i, spec in enumerate(steps if isinstance(steps, list) else ()):
        if isinstance(spec, dict) and spec.get("id") == step:
            return src.line(("steps", i, *below))
    return None
