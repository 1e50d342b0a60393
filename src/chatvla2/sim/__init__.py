"""Simulation of the arm and the tasks (plain Python, no ROS)."""
