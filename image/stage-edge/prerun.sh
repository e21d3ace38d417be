#!/bin/bash -e
# pi-gen: start this stage from the previous stage's root file system (Raspberry Pi OS Lite after stage2).
if [ ! -d "${ROOTFS_DIR}" ]; then
	copy_previous
fi
