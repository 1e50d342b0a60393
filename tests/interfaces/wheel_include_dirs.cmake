# Included through CMAKE_PROJECT_INCLUDE by build_interfaces.py, never by a real ROS 2 install.
# The ROS 2 wheels' exported *__rosidl_generator_py targets name the include directories of the
# manylinux machine that built them (/opt/python/cp311-cp311/...). Rather than creating those
# paths on this machine, rewrite them, once every package is found (deferred to the end of the
# top-level CMakeLists.txt), to this interpreter's Python and NumPy include directories.
if(NOT DEFINED CHATVLA2_PYTHON_INCLUDE_DIR OR NOT DEFINED CHATVLA2_NUMPY_INCLUDE_DIR)
  message(FATAL_ERROR "wheel_include_dirs.cmake needs -DCHATVLA2_PYTHON_INCLUDE_DIR and -DCHATVLA2_NUMPY_INCLUDE_DIR")
endif()

function(chatvla2_rewrite_wheel_include_dirs)
  get_directory_property(targets DIRECTORY "${CMAKE_SOURCE_DIR}" IMPORTED_TARGETS)
  set(rewritten 0)
  foreach(target IN LISTS targets)
    get_target_property(dirs ${target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT dirs OR NOT dirs MATCHES "^/opt/python/|;/opt/python/")
      continue()
    endif()
    set(local_dirs "")
    foreach(dir IN LISTS dirs)
      if(dir MATCHES "^/opt/python/.*/numpy/")
        list(APPEND local_dirs "${CHATVLA2_NUMPY_INCLUDE_DIR}")
      elseif(dir MATCHES "^/opt/python/.*/include/python3")
        list(APPEND local_dirs "${CHATVLA2_PYTHON_INCLUDE_DIR}")
      else()
        list(APPEND local_dirs "${dir}")
      endif()
    endforeach()
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${local_dirs}")
    math(EXPR rewritten "${rewritten} + 1")
  endforeach()
  message(STATUS "chatvla2: pointed ${rewritten} ROS wheel targets at this machine's Python/NumPy headers")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL chatvla2_rewrite_wheel_include_dirs)
