"""chatvla2: a ROS 2 control stack for a ChatVLA-2 style reasoning vision-language-action model.

Only `chatvla2.ros` imports rclpy; every other subpackage is plain Python with plain types.
"""

__version__ = "0.1.0"
