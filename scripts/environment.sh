# Environment shared by the project's scripts (sourced, not run).
# MuJoCo renders offscreen on the CPU through EGL (Mesa); one DDS domain per checkout keeps tests
# from talking to a stack someone else runs on this machine.
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export PYOPENGL_PLATFORM="${PYOPENGL_PLATFORM:-egl}"
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-42}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
export PYTHONUNBUFFERED=1
