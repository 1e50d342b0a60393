"""Small pieces every node uses: declaring parameters with descriptions, and main()'s lifecycle."""
from __future__ import annotations

import difflib
import faulthandler
import os
import signal
import sys
import threading
from typing import Any, Callable

import rclpy
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions


def declare(node: Node, name: str, default: Any, description: str, *, low: float | None = None,
            high: float | None = None, read_only: bool = False) -> Any:
    """Declare a parameter with a description (and a range, read_only) and return its value.
    A range is [low, high]; ROS refuses a value outside it, at start and on `ros2 param set`."""
    descriptor = ParameterDescriptor(description=description, read_only=read_only)
    if low is not None or high is not None:
        if isinstance(default, bool) or not isinstance(default, (int, float)):
            raise TypeError(f"parameter {name}: a range needs a number default, got {default!r}")
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low), to_value=float(high))]
    return node.declare_parameter(name, default, descriptor).value


def destroy_lifecycle_state_machine(node: Node) -> None:
    """Free a LifecycleNode's state machine; call it after super().destroy_node().

    rclpy's LifecycleNode.destroy_node frees publishers, services and timers, but not the rcl
    state machine, which holds the node handle and its ~/transition_event publisher: they live on
    until garbage collection (in a long-lived process, such as a test run, that may be never), and
    every later graph query in that DDS domain shows the dead node's transition_event."""
    state_machine = getattr(node, "_state_machine", None)
    if state_machine is not None:
        state_machine.destroy_when_not_in_use()


def unknown_parameter_problem(node: Node) -> str | None:
    """A message naming the parameter-file or command-line keys this node never declared (a typo
    there would otherwise be dropped silently and the default used), with the nearest name."""
    declared = set(node._parameters)
    unknown = sorted(name for name in node._parameter_overrides
                     if name not in declared and not name.startswith("qos_overrides."))
    if not unknown:
        return None
    hints = []
    for name in unknown:
        nearest = difflib.get_close_matches(name, declared, n=1)
        hints.append(f"'{name}'" + (f" (did you mean '{nearest[0]}'?)" if nearest else ""))
    return f"{node.get_name()}: unknown parameter {', '.join(hints)}; declared: {', '.join(sorted(declared))}"


TEARDOWN_LIMIT_S = 15.0  # s: a teardown that takes longer is stuck (a launcher would SIGKILL it)


def teardown_stuck() -> None:
    """Dump every thread's stack (what blocked the teardown) and end the process with status 3."""
    print(f"teardown took more than {TEARDOWN_LIMIT_S:.0f} s; thread stacks:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    os._exit(3)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             prepare: Callable[[Node], None] | None = None,
             keep_going: Callable[[], bool] = lambda: True) -> None:
    """rclpy.init, spin one node while `keep_going()`, shut down cleanly on Ctrl-C or SIGTERM
    (ros2/demos pattern). `prepare(node)` runs once before spinning (e.g. lifecycle transitions).

    The node's own SIGINT/SIGTERM handlers replace rclpy's: rclpy's invalidate the context before
    the node is destroyed, so a node could not act on the way out. Here a signal ends the spin
    loop (within 0.1 s), then `destroy_node()` runs with the context still valid (the arm
    controller calls its driver's stop there), then rclpy shuts down."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    stopping, spinning = threading.Event(), threading.Event()

    def on_stop_signal(*_) -> None:
        stopping.set()
        if not spinning.is_set():  # still building or configuring (a model load): abandon it
            raise KeyboardInterrupt

    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, on_stop_signal)
    node = None
    try:
        node = make_node()
        if prepare is not None:
            prepare(node)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        spinning.set()
        while rclpy.ok() and keep_going() and not stopping.is_set():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # rclpy's signal thread shuts the context down asynchronously: a SIGINT or SIGTERM that
        # lands between rclpy.ok() and the executor building its wait set raises RCLError
        # ("context is not valid") instead of the exceptions above (ros2/rclpy#398). That is a
        # normal stop; any RuntimeError while the context is still valid is a real one.
        if rclpy.ok():
            raise
    finally:
        # Under `ros2 launch` a terminal's Ctrl-C reaches every node directly and the launcher
        # forwards another SIGINT while the node tears down: once stopping, further SIGINT/SIGTERM
        # must not interrupt the teardown (a traceback, exit status -2, or a C++ abort while
        # threads are being joined). SIGKILL still ends a teardown that hangs.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, signal.SIG_IGN)
        watchdog = threading.Timer(TEARDOWN_LIMIT_S, teardown_stuck)
        watchdog.daemon = True
        watchdog.start()
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
        watchdog.cancel()
