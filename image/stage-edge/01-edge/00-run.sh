#!/bin/bash -e
# Installs the edge .deb (image/build copies it to files/edge.deb). Its postinst creates the edge user and
# edge-admin group and Edge's directories, and enables edge.service, edge-provision.service (first-boot provisioning
# from /boot/firmware/edge-provision.json) and run-edge-staging.mount (the staging tmpfs). systemd does not run in
# the chroot, so nothing is started here.
if [ ! -f files/edge.deb ]; then
	echo "stage-edge: files/edge.deb is missing; build the image with image/build, which copies the arm64 .deb here" >&2
	exit 1
fi
install -m 644 files/edge.deb "${ROOTFS_DIR}/tmp/edge.deb"
on_chroot <<CHROOT
apt-get install -y --no-install-recommends /tmp/edge.deb
rm -f /tmp/edge.deb
systemctl enable run-edge-staging.mount edge-provision.service edge.service
CHROOT
