"""Runs a launch/*.launch.xml file's nodes here, where launch_ros cannot be installed.

A small interpreter of the XML subset the project's launch files use: <arg> (defaults and
command-line values; a value for an undeclared argument is an error, as a typo must not be
silently ignored), <set_env>, <include> (reported, not run: franka_ros2 is not installed here, a
test double stands in), <node> with <param from=...> and <param name= value=>, `if`/`unless`, and
the substitutions $(var), $(find-pkg-share chatvla2), $(env) and $(eval). Each node becomes the
command line `ros2 launch` would run: the entry point with `--ros-args -r __node:=NAME
--params-file F -p name:=value` (and `-r __ns:=/NS` for a namespace), in the file's order.
A parameter file's section is looked up by node name, so `arm_controller:` applies under any
namespace (the wildcard form `/**:` is not used by the project's files)."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class LaunchPlan:
    args: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)
    nodes: list[dict] = field(default_factory=list)      # {"exec", "name", "ros_args"}
    includes: list[str] = field(default_factory=list)    # files an enabled <include> names


def _split_call(text: str, start: int) -> int:
    """Index just past the ')' closing the '$(' at `start`, skipping quoted parts."""
    depth, i, quote = 0, start, None
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c == "'" and depth > 0:
            quote = c
        elif text.startswith("$(", i):
            depth += 1
            i += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise ValueError(f"unbalanced substitution in {text!r}")


def substitute(text: str, args: dict[str, str]) -> str:
    out, i = [], 0
    while (start := text.find("$(", i)) >= 0:
        out.append(text[i:start])
        end = _split_call(text, start)
        out.append(_evaluate(text[start + 2:end - 1].strip(), args))
        i = end
    out.append(text[i:])
    return "".join(out)


def _evaluate(call: str, args: dict[str, str]) -> str:
    name, _, rest = call.partition(" ")
    rest = rest.strip()
    if name == "var":
        if rest not in args:
            raise ValueError(f"$(var {rest}): no such launch argument")
        return args[rest]
    if name == "find-pkg-share":
        if rest != "chatvla2":
            raise LookupError(rest)  # another package's share: not installed here
        return str(REPO)
    if name == "env":
        import os
        key, _, default = rest.partition(" ")
        return os.environ.get(key, default)
    if name == "eval":
        expression = substitute(rest, args)
        if not (expression.startswith("'") and expression.endswith("'")):
            raise ValueError(f"$(eval) takes one quoted expression, got {expression!r}")
        python = expression[1:-1].replace("\\'", "'")
        return str(eval(python, {"__builtins__": {}}, {}))  # noqa: S307 (our own launch files)
    raise ValueError(f"substitution $({name} ...) is not supported by tests/launch_xml.py")


def _enabled(element: ET.Element, args: dict[str, str]) -> bool:
    for attribute, wanted in (("if", True), ("unless", False)):
        value = element.get(attribute)
        if value is not None and (substitute(value, args).strip().lower() in ("true", "1")) != wanted:
            return False
    return True


def plan(path: Path, overrides: dict[str, str] | None = None) -> LaunchPlan:
    root = ET.parse(path).getroot()
    overrides = dict(overrides or {})
    declared = {arg.get("name") for arg in root.findall("arg")}
    unknown = sorted(set(overrides) - declared)
    if unknown:
        raise ValueError(f"{path.name} declares no launch argument {unknown} (declared: {sorted(declared)})")
    result = LaunchPlan(args={})
    for element in root:
        if element.tag == "arg":
            name = element.get("name")
            if name in overrides:
                result.args[name] = overrides[name]
            elif element.get("default") is not None:
                result.args[name] = substitute(element.get("default"), result.args)
            else:
                raise ValueError(f"{path.name}: launch argument '{name}' is required")
        elif not _enabled(element, result.args):
            continue
        elif element.tag == "set_env":
            result.env[element.get("name")] = substitute(element.get("value"), result.args)
        elif element.tag == "include":
            result.includes.append(element.get("file"))
        elif element.tag == "node":
            ros_args = ["-r", f"__node:={element.get('name')}"]
            namespace = substitute(element.get("namespace", ""), result.args).strip("/")
            if namespace:
                ros_args += ["-r", f"__ns:=/{namespace}"]
            for param in element.findall("param"):
                if param.get("from"):
                    ros_args += ["--params-file", substitute(param.get("from"), result.args)]
                else:
                    ros_args += ["-p", f"{param.get('name')}:={substitute(param.get('value', ''), result.args)}"]
            result.nodes.append({"exec": element.get("exec"), "name": element.get("name"), "namespace": namespace,
                                 "ros_args": ros_args})
    return result


def quoted_launch_arguments(text: str) -> dict[str, str]:
    """`name:=value` pairs of a `ros2 launch pkg file ...` command line."""
    return dict(re.findall(r"(\w+):=(\S+)", text))
