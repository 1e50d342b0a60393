"""Arm control: robot descriptions, chunk execution and the safety filter (plain Python, no ROS)."""
