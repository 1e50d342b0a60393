"""Small pieces every node uses: declaring parameters with descriptions, and main()'s lifecycle."""
from __future__ import annotations

import signal
import threading
from typing import Any, Callable

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions


def declare(node: Node, name: str, default: Any, description: str) -> Any:
    """Declare a parameter with a description and return its value."""
    return node.declare_parameter(
        name, default, ParameterDescriptor(description=description)).value


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
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
