"""Data tools: episode datasets, image-text data, rosbag recording, replay and conversion."""
