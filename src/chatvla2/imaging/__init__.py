"""Images: sensor_msgs/Image encoding rules on plain fields, and camera frame sources."""
