"""The layering rule: only `src/chatvla2/ros/` speaks ROS. Every other module (model, policy,
control, sim, data, train, ...) is plain Python: it imports neither rclpy (nor any ROS client or
message package) nor `chatvla2.ros`, not even lazily inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "chatvla2"
ROS_PACKAGES = ("rclpy", "rosidl_runtime_py", "rosbag2_py", "launch", "launch_ros", "builtin_interfaces",
                "std_msgs", "sensor_msgs", "trajectory_msgs", "diagnostic_msgs", "lifecycle_msgs",
                "rosgraph_msgs", "chatvla2_interfaces", "cv_bridge")


def imported_modules(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement anywhere in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def violations(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root.parent)
        if relative.parts[1] == "ros":
            continue
        package = ".".join(relative.with_suffix("").parts[:-1])
        for line, name in imported_modules(path.read_text(), package):
            top = name.split(".")[0]
            if top in ROS_PACKAGES or name == "chatvla2.ros" or name.startswith("chatvla2.ros."):
                bad.append(f"{relative}:{line} imports {name}")
    return bad


def test_nothing_outside_ros_imports_ros_or_chatvla2_ros():
    assert violations(PACKAGE) == []


def test_the_rule_catches_direct_lazy_and_relative_imports(tmp_path):
    root = tmp_path / "chatvla2"
    (root / "ros").mkdir(parents=True)
    (root / "sim").mkdir()
    (root / "ros" / "node.py").write_text("import rclpy\n")  # allowed where it belongs
    (root / "sim" / "a.py").write_text("import numpy\nfrom sensor_msgs.msg import Image\n")
    (root / "sim" / "b.py").write_text("def f():\n    from chatvla2.ros.stack import run_trials\n")
    (root / "sim" / "c.py").write_text("from ..ros import qos\n")
    (root / "sim" / "d.py").write_text("import rclpy.node as n\n")
    assert violations(root) == ["chatvla2/sim/a.py:2 imports sensor_msgs.msg", "chatvla2/sim/b.py:2 imports chatvla2.ros.stack",
                                "chatvla2/sim/c.py:1 imports chatvla2.ros", "chatvla2/sim/d.py:1 imports rclpy.node"]
