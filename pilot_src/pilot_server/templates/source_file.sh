
# -- the pilot, from a file on this machine (written by cloud-init)
pw_pyz_file=@Q_PYZ_FILE@

pw_obtain_pilot() {
    pw_src=${PILOT_PYZ_FILE:-$pw_pyz_file}
    cp "$pw_src" "$pw_work/pilot.pyz" 2>/dev/null || pw_die 3 "cannot copy $pw_src into $pw_work"
    pw_check_sha256 "$pw_work/pilot.pyz" "$pw_src" || pw_die 255 "$pw_src failed its sha256 check"
}
