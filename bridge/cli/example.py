"""The example configuration file, generated from the settings model itself.

``config/gridbridge.example.toml`` is this text; a test keeps the two in step, so every key
is documented by the same description that ``config check`` and the code use.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bridge.settings import SECRETS, Settings

HEADER = """\
# gridbridge configuration (TOML).  Every key is optional: the value shown is the built-in
# default.  Check a file with:  gridbridge config check --config FILE
#
# Secrets (passwords, the secret key) may be written here, put in a file named by the
# matching *_file key, or given in an environment variable, which wins:
{env}
# They are shown as *** by every command.
"""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    return json.dumps(value, ensure_ascii=False)


def _wrap(text: str, width: int = 92) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


def example_toml() -> str:
    env = "\n".join(
        f"#   {section + '.' + key:<26} {env_var:<28} or {section}.{file_key}"
        for section, key, env_var, file_key in SECRETS
    )
    out = [HEADER.format(env=env)]
    defaults = Settings()
    for name, field in Settings.model_fields.items():
        out.extend(_section_lines(name, field, getattr(defaults, name)))
    return "\n".join(out)


def _section_lines(name: str, field: FieldInfo, section: BaseModel) -> list[str]:
    """A ``[name]`` table, its plain keys first, then its nested tables (``[frames.vqd]``)."""
    lines = [f"[{name}]  # {field.description}"]
    nested: list[tuple[str, FieldInfo, BaseModel]] = []
    arrays: list[tuple[str, FieldInfo, type[BaseModel]]] = []
    for key, sub in type(section).model_fields.items():
        value = getattr(section, key)
        item = table_item_model(sub)
        if isinstance(value, BaseModel):
            nested.append((f"{name}.{key}", sub, value))
        elif item is not None:
            arrays.append((f"{name}.{key}", sub, item))
        else:
            lines.extend(_field_lines(key, sub, value))
    lines.append("")
    for array_name, array_field, item in arrays:
        lines.extend(_array_lines(array_name, array_field, item))
    for sub_name, sub_field, sub_section in nested:
        lines.extend(_section_lines(sub_name, sub_field, sub_section))
    return lines


def _field_lines(key: str, field: FieldInfo, value: Any) -> list[str]:
    lines = [f"# {line}" for line in _wrap(field.description or "")]
    if value is None:
        lines.append(f'# {key} = "..."')
    else:
        lines.append(f"{key} = {_toml_value(value)}")
    return lines


def table_item_model(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a field holding a list of tables (``[[workorders.webhooks]]``), or None."""
    if typing.get_origin(field.annotation) not in (list, tuple):
        return None
    args = typing.get_args(field.annotation)
    item = args[0] if args else None
    return item if isinstance(item, type) and issubclass(item, BaseModel) else None


def _array_lines(name: str, field: FieldInfo, item: type[BaseModel]) -> list[str]:
    """A list of tables, empty by default, shown as one commented-out example table: TOML
    has no way to write "none" that a table added later would not contradict.  Uncommented
    once, it is a complete table; optional keys without a default stay commented twice."""
    lines = [f"# {line}" for line in _wrap(f"{field.description} One [[{name}]] table each:")]
    lines.append(f"# [[{name}]]")
    for key, sub in item.model_fields.items():
        value = sub.default
        if value is PydanticUndefined or value is None:
            value = sub.examples[0] if sub.examples else None
        lines.extend(f"# {line}" for line in _field_lines(key, sub, value))
    lines.append("")
    return lines
