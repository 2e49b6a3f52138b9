# Bakes the git revision of the source tree into revision_data.h. Included at configure time (so the
# header exists) and run again as a script (`cmake -P`) on every build, as TrinityCore does: an
# incremental build of a new commit must not report the previous commit's hash.
if(NOT DEFINED SOURCE_DIR)
  set(SOURCE_DIR "${CMAKE_SOURCE_DIR}")
endif()
if(NOT DEFINED BUILD_DIR)
  set(BUILD_DIR "${CMAKE_BINARY_DIR}")
endif()
# Only a checkout whose top level IS this source directory counts: a copy that merely sits inside
# some other repository (an installed package, a tool's own checkout) must report "unknown".
set(rev_hash "unknown")
set(rev_date "1970-01-01 00:00:00 +0000")
set(rev_branch "Archived")

find_program(GIT_EXECUTABLE git)
if(GIT_EXECUTABLE)
  execute_process(
    COMMAND "${GIT_EXECUTABLE}" rev-parse --show-prefix
    WORKING_DIRECTORY "${SOURCE_DIR}"
    RESULT_VARIABLE prefix_result
    OUTPUT_VARIABLE prefix_output
    OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET)
  if(prefix_result EQUAL 0 AND prefix_output STREQUAL "")
    execute_process(
      COMMAND "${GIT_EXECUTABLE}" rev-parse --short=12 HEAD
      WORKING_DIRECTORY "${SOURCE_DIR}"
      RESULT_VARIABLE hash_result
      OUTPUT_VARIABLE hash_output
      OUTPUT_STRIP_TRAILING_WHITESPACE
      ERROR_QUIET)
    if(hash_result EQUAL 0 AND NOT hash_output STREQUAL "")
      set(rev_hash "${hash_output}")
      execute_process(
        COMMAND "${GIT_EXECUTABLE}" log -1 --format=%ci
        WORKING_DIRECTORY "${SOURCE_DIR}"
        OUTPUT_VARIABLE date_output
        OUTPUT_STRIP_TRAILING_WHITESPACE
        ERROR_QUIET)
      if(NOT date_output STREQUAL "")
        set(rev_date "${date_output}")
      endif()
      execute_process(
        COMMAND "${GIT_EXECUTABLE}" symbolic-ref -q --short HEAD
        WORKING_DIRECTORY "${SOURCE_DIR}"
        OUTPUT_VARIABLE branch_output
        OUTPUT_STRIP_TRAILING_WHITESPACE
        ERROR_QUIET)
      if(branch_output STREQUAL "")
        set(rev_branch "detached")
      else()
        set(rev_branch "${branch_output}")
      endif()
    endif()
  endif()
endif()

# configure_file rewrites the header only when its content changes, so an unchanged revision
# recompiles nothing.
configure_file("${SOURCE_DIR}/cmake/revision_data.h.in" "${BUILD_DIR}/revision_data.h")
