"""The ROS 2 boundary: the only subpackage that imports rclpy or *_msgs.

Nodes convert messages to plain types, call the core, and convert back.
"""
