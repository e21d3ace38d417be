#!/bin/bash -e
# Optional (EDGE_READONLY_ROOT=1): the root file system read-only under a RAM overlay (overlayroot), so the SD card
# is not written by the OS at all, and Edge's state on a data partition that stays writable:
#   LABEL=EDGEDATA (partition 3, made by image/build) mounted at /var/lib/edge.
# The staging area is a tmpfs anyway; footage goes to the USB disk at /srv/edge/usb, which stays writable too.
if [ "${EDGE_READONLY_ROOT:-0}" != "1" ]; then
	echo "stage-edge: read-only root not requested (EDGE_READONLY_ROOT=1 enables it)"
	exit 0
fi
on_chroot <<'CHROOT'
apt-get install -y --no-install-recommends overlayroot
CHROOT
# recurse=0: only / is overlaid; /var/lib/edge and /srv/edge/usb (their own mounts) stay writable.
cat >"${ROOTFS_DIR}/etc/overlayroot.local.conf" <<'OVERLAY'
overlayroot="tmpfs:swap=0,recurse=0"
OVERLAY
if ! grep -q 'LABEL=EDGEDATA' "${ROOTFS_DIR}/etc/fstab"; then
	printf 'LABEL=EDGEDATA  /var/lib/edge  ext4  defaults,noatime,nofail,x-systemd.device-timeout=10s  0  2\n' >>"${ROOTFS_DIR}/etc/fstab"
fi
# The root partition must not grow over the data partition behind it: no first-boot resize.
sed -i 's# init=/usr/lib/raspberrypi-sys-mods/firstboot##' "${ROOTFS_DIR}/boot/firmware/cmdline.txt"
