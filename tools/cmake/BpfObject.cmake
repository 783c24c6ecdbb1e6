# bpf_object(<name> <source.bpf.c> [HEADERS <header>...])
#
# Compiles a BPF C program with clang -target bpf and turns the object into a bpftool skeleton
# header <build>/bpf/<name>.skel.h, which embeds the object's bytes: the agent binary carries its
# BPF program, there is no separate .o to ship or to find at run time.
#
# Creates the INTERFACE target <name>_skel: its include directory holds the skeleton (as a SYSTEM
# directory, the generated code is not ours to warn about), and it links libbpf, libelf and zlib.
#
# HEADERS are dependencies of the compile (a changed shared header rebuilds the object; katran's
# module lists only the .c). Only UAPI headers are used, no vmlinux.h: an XDP parser reads packet
# bytes, not kernel structs, so the build does not depend on the build host's kernel BTF.
include_guard(GLOBAL)

find_program(BPF_CLANG NAMES clang clang-16 clang-15 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
pkg_check_modules(LIBBPF REQUIRED IMPORTED_TARGET libbpf)
pkg_check_modules(LIBELF REQUIRED IMPORTED_TARGET libelf)
pkg_check_modules(ZLIB_PC REQUIRED IMPORTED_TARGET zlib)

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
  set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${CMAKE_SYSTEM_PROCESSOR})
endif()

# -target bpf drops the host's system include directories (so <asm/types.h> from the multiarch
# directory would not be found). Ask clang for its host list and append it with -idirafter, as
# libbpf-bootstrap does, so that our own -I directories still win.
execute_process(COMMAND ${BPF_CLANG} -v -E - INPUT_FILE /dev/null
                OUTPUT_QUIET ERROR_VARIABLE _bpf_clang_v)
string(REGEX MATCH "#include <...> search starts here:\n(.*)End of search list" _bpf_match "${_bpf_clang_v}")
string(REGEX REPLACE "\n[ ]*" ";" _bpf_dirs "${CMAKE_MATCH_1}")
set(BPF_SYSTEM_INCLUDE_FLAGS)
foreach(_dir ${_bpf_dirs})
  string(STRIP "${_dir}" _dir)
  if(_dir)
    list(APPEND BPF_SYSTEM_INCLUDE_FLAGS -idirafter ${_dir})
  endif()
endforeach()

function(bpf_object name source)
  cmake_parse_arguments(ARG "" "" "HEADERS" ${ARGN})
  get_filename_component(_src ${source} ABSOLUTE)
  get_filename_component(_src_dir ${_src} DIRECTORY)
  set(_out_dir ${CMAKE_BINARY_DIR}/bpf)
  set(_obj ${_out_dir}/${name}.bpf.o)
  set(_skel ${_out_dir}/${name}.skel.h)
  set(_headers)
  foreach(_h ${ARG_HEADERS})
    get_filename_component(_h ${_h} ABSOLUTE)
    list(APPEND _headers ${_h})
  endforeach()

  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_out_dir}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH} -Wall -Werror
            -I${_src_dir} ${BPF_SYSTEM_INCLUDE_FLAGS} -c ${_src} -o ${_obj}
    DEPENDS ${_src} ${_headers}
    COMMENT "BPF ${name}: clang -target bpf ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND sh -c "${BPFTOOL} gen skeleton ${_obj} name ${name} > ${_skel}.tmp && mv ${_skel}.tmp ${_skel}"
    DEPENDS ${_obj}
    COMMENT "BPF ${name}: bpftool gen skeleton"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${_skel})

  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel SYSTEM INTERFACE ${_out_dir})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF PkgConfig::LIBELF PkgConfig::ZLIB_PC)
endfunction()
