#!/usr/bin/env bash
# Host suite: npheap_shim builds, installs (staged) and links like the course's library.
exec "$(dirname "$0")/../../npheap_shim/test-install.sh"
