# The .deb for hosts without Kubernetes (deploy/README.md, "Plain hosts: the .deb"). One command, from
# the repository root after ./tools/build.sh:
#   cpack --config build/CPackConfig.cmake -B build/package
# -> build/package/jaeger-xdp-agent_<version>_<arch>.deb: the agent, its systemd unit (unprivileged user,
# the DaemonSet's five capabilities as ambient capabilities, bpffs pin directory, restart on failure),
# /etc/default/jaeger-xdp-agent (a conffile), the operations guide and the monitoring files.
# Runtime dependencies come from dpkg-shlibdeps (the libraries the binary links), bpftool is recommended.
# tests/deploy/deb_test.sh installs it into a fresh Debian root and verifies the unit.
set(_pkg ${CMAKE_CURRENT_LIST_DIR})
install(PROGRAMS $<TARGET_FILE:jaeger-xdp-agent> DESTINATION bin COMPONENT agent)
# As in the image: without DWARF, with the symbol table (readable stack traces); 29 -> 4 MB.
install(CODE "execute_process(COMMAND strip --strip-debug \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/jaeger-xdp-agent\" COMMAND_ERROR_IS_FATAL ANY)"
        COMPONENT agent)
# /lib, not /usr/lib: where bookworm's packages install units (merged-/usr moves are dpkg's business).
install(FILES ${_pkg}/jaeger-xdp-agent.service DESTINATION /lib/systemd/system COMPONENT agent)
install(FILES ${_pkg}/jaeger-xdp-agent.default DESTINATION /etc/default RENAME jaeger-xdp-agent COMPONENT agent)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/README.md DESTINATION share/doc/jaeger-xdp-agent COMPONENT agent)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/monitoring/alerts.yaml ${CMAKE_SOURCE_DIR}/deploy/monitoring/dashboard.json
        DESTINATION share/doc/jaeger-xdp-agent/monitoring COMPONENT agent)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME jaeger-xdp-agent)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_CONTACT "jaeger-xdp-agent maintainers <jaeger-xdp-agent@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Jaeger agent with an XDP/AF_XDP receive path")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "Drop-in Jaeger agent: receives spans over UDP (Thrift compact/binary), optionally through an XDP program and AF_XDP sockets, and forwards them to Jaeger collectors over TChannel, counting every drop by stage and reason.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "bpftool")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${_pkg}/postinst ${_pkg}/prerm ${_pkg}/postrm ${_pkg}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only the agent component: the project installs nothing else, but tests and tools must never leak in.
set(CPACK_COMPONENTS_ALL agent)
set(CPACK_DEB_COMPONENT_INSTALL OFF)
set(CPACK_COMPONENTS_GROUPING ALL_COMPONENTS_IN_ONE)
set(CPACK_OUTPUT_FILE_PREFIX package)
include(CPack)
