#!/bin/bash -e
# SSH by key only, the hardware watchdog driven by systemd, and nothing listening that Edge does not need.

# Password SSH off whatever pi-gen's config said (PUBKEY_ONLY_SSH does the same for the main sshd_config).
install -d -m 755 "${ROOTFS_DIR}/etc/ssh/sshd_config.d"
cat >"${ROOTFS_DIR}/etc/ssh/sshd_config.d/10-edge.conf" <<'SSHD'
# Edge boxes: keys only (installed by the technician's image settings); no root login.
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
SSHD

# The SoC's watchdog (bcm2835-wdt / rp1): systemd pets it; a hung kernel or systemd reboots the box within 15 s.
# edge.service's own WatchdogSec= restarts a hung agent; this catches what is below it.
install -d -m 755 "${ROOTFS_DIR}/etc/systemd/system.conf.d"
cat >"${ROOTFS_DIR}/etc/systemd/system.conf.d/10-edge-watchdog.conf" <<'WATCHDOG'
[Manager]
RuntimeWatchdogSec=15s
RebootWatchdogSec=2min
WATCHDOG
if ! grep -q '^dtparam=watchdog=on' "${ROOTFS_DIR}/boot/firmware/config.txt"; then
	printf '\n# Edge: hardware watchdog (systemd RuntimeWatchdogSec)\ndtparam=watchdog=on\n' >>"${ROOTFS_DIR}/boot/firmware/config.txt"
fi

# Not needed on a recorder in a server room.
on_chroot <<'CHROOT'
for unit in bluetooth.service hciuart.service avahi-daemon.service avahi-daemon.socket triggerhappy.service triggerhappy.socket; do
	systemctl disable "$unit" 2>/dev/null || true
done
CHROOT
