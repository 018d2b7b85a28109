"""YAML loading with JSON-Schema validation whose errors name the file, the line and the field.

Personas, rubrics and trainee scripts all load through here, so every config mistake reads the same:
``personas/x.yaml:14: mood.start: 'high' is not of type 'number'``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .errors import ConfigError


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
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read file ({exc})") from None
    return parse_yaml(text, schema, str(path))


def parse_yaml(text: str, schema: dict[str, Any], name: str) -> tuple[dict[str, Any], yaml.Node]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(name, f"invalid YAML: {exc.problem or exc.context}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(name, f"invalid YAML: {exc}") from None
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
