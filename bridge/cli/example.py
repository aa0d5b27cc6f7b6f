"""The example configuration file, generated from the settings model itself.

``config/gridbridge.example.toml`` is this text; a test keeps the two in step, so every key
is documented by the same description that ``config check`` and the code use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

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
    for key, sub in type(section).model_fields.items():
        value = getattr(section, key)
        if isinstance(value, BaseModel):
            nested.append((f"{name}.{key}", sub, value))
        else:
            lines.extend(_field_lines(key, sub, value))
    lines.append("")
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
