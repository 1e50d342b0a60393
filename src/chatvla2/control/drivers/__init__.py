"""Arm drivers behind one small interface (see base.py); ROS drivers live in chatvla2.ros.drivers."""
