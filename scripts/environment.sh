# Environment shared by the project's scripts (sourced, not run).
# MuJoCo renders offscreen on the CPU through EGL (Mesa); one DDS domain per checkout keeps tests
# from talking to a stack someone else runs on this machine.
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export PYTHONUNBUFFERED=1
# Fast DDS profile of the stack: camera frames above 512 KiB (640x480 rgb8 and up) reach readers
# in other processes (config/dds/fastdds_large_frames.xml; the launch files set the same).
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/config/dds/fastdds_large_frames.xml}"
