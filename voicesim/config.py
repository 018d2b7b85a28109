"""YAML loading with JSON-Schema validation whose errors name the file, the line and the field.

Personas, rubrics and trainee scripts all load through here, so every config mistake reads the same:
``personas/x.yaml:14: mood.start: 'high' is not of type 'number'``.

The loader is bounded, because a config file may come from anyone (a trainer's rubric on the lab
server): at most ``MAX_BYTES`` of text, ``MAX_DEPTH`` levels of nesting, ``MAX_ALIASES`` aliases
and ``MAX_VALUES`` values once aliases are expanded (no "billion laughs"), integers of at most
``MAX_DIGITS`` digits, and no NaN or infinity where a number is expected.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from yaml.constructor import ConstructorError

from .errors import ConfigError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIASES = 100
MAX_VALUES = 100_000
MAX_DIGITS = 30


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses deep nesting, many aliases, huge integers and NaN/infinity."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = self._aliases = 0

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 - PyYAML's signature
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ConstructorError(
                    None, None, f"more than {MAX_ALIASES} aliases (*name)", event.start_mark
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ConstructorError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep", event.start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_yaml_int(self, node):  # noqa: ANN001, ANN201
        digits = str(node.value).replace("_", "").lstrip("+-")
        if len(digits) > MAX_DIGITS:
            raise ConstructorError(
                None, None, f"number with more than {MAX_DIGITS} digits", node.start_mark
            )
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):  # noqa: ANN001, ANN201
        value = super().construct_yaml_float(node)
        if not math.isfinite(value):
            raise ConstructorError(
                None, None, f"{node.value!r} is not a finite number", node.start_mark
            )
        return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)
_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _BoundedLoader.construct_yaml_float)


def _expanded_size(root: yaml.Node) -> int:
    """How many values the document holds with every alias expanded (shared nodes count each
    time they are referred to), stopping as soon as it passes MAX_VALUES."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = MAX_VALUES + 1  # an alias inside its own anchor: endless
        n = 1
        if isinstance(node, yaml.SequenceNode):
            for child in node.value:
                n += size(child)
                if n > MAX_VALUES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                n += size(k) + size(v)
                if n > MAX_VALUES:
                    break
        sizes[id(node)] = n
        return n

    return size(root)


def _node_at(
    root: yaml.Node | None, path: Sequence[Any], key_line: bool = False
) -> yaml.Node | None:
    """Walk the composed YAML node tree along a JSON path; stop at the deepest node found.

    With ``key_line`` the last step returns the mapping key rather than its value, so an error
    about a key points at the key's own line even when its value starts on the next one.
    """
    node = root
    for depth, key in enumerate(path):
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == str(key)), None)
            if pair is None:
                return node
            node = pair[0] if key_line and depth == len(path) - 1 else pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            return node
    return node


def _field_name(path: Sequence[Any]) -> str:
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out or "(top level)"


def _best_error(errors: list[jsonschema.ValidationError]) -> jsonschema.ValidationError:
    return jsonschema.exceptions.best_match(errors)


def load_yaml(path: str | Path, schema: dict[str, Any]) -> tuple[dict[str, Any], yaml.Node]:
    """Read a YAML mapping from ``path`` and validate it; raise ConfigError with file:line: field."""
    return parse_yaml(read_config(path), schema, str(path))


def read_config(path: str | Path) -> str:
    """A config file's text, at most ``MAX_BYTES``; ConfigError when it cannot be read."""
    path = Path(path)
    try:
        if not path.is_file():
            raise ConfigError(str(path), "file not found" if not path.exists() else "not a file")
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ConfigError(str(path), f"file larger than {MAX_BYTES} bytes")
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read file ({exc})") from None
    return text


def parse_yaml(text: str, schema: dict[str, Any], name: str) -> tuple[dict[str, Any], yaml.Node]:
    if len(text) > MAX_BYTES:
        raise ConfigError(name, f"text longer than {MAX_BYTES} characters")
    loader = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters at once
        root = loader.get_single_node()
        if root is not None and _expanded_size(root) > MAX_VALUES:
            raise ConfigError(
                name, f"the document expands to more than {MAX_VALUES} values (through aliases)"
            )
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(name, f"invalid YAML: {exc.problem or exc.context}", line=line) from None
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        raise ConfigError(name, f"invalid YAML: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise ConfigError(name, "expected a mapping of fields at the top level", line=1)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    if errors:
        err = _best_error(errors)
        path = list(err.absolute_path)
        message = err.message
        if err.validator == "additionalProperties":
            # Point at the unknown key itself, not at its parent mapping.
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            if extra:
                path.append(extra[0])
                message = f"unknown field (allowed: {', '.join(sorted(err.schema['properties']))})"
        elif err.validator == "required":
            missing = sorted(set(err.validator_value) - set(err.instance))
            message = f"required field {missing[0]!r} is missing" if missing else err.message
            node = _node_at(root, path)
            line = node.start_mark.line + 1 if node is not None else None
            raise ConfigError(name, message, line=line, field=_field_name([*path, *missing[:1]]))
        node = _node_at(root, path, key_line=err.validator == "additionalProperties")
        line = node.start_mark.line + 1 if node is not None else None
        raise ConfigError(name, message, line=line, field=_field_name(path))
    return data, root


def line_of(root: yaml.Node, path: Sequence[Any], key_line: bool = False) -> int | None:
    """The 1-based line at ``path`` (its key with ``key_line``), for errors found after schema checks."""
    node = _node_at(root, path, key_line)
    return node.start_mark.line + 1 if node is not None else None
